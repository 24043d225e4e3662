package install

import (
	"bytes"
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/romana/romanactl/internal/values"
)

// datastoreSecret checks the password Secret a user names with datastore.existingSecret:
// it must exist in the namespace with a non-empty key "password" (✗: romana-services
// would not start), and it should hold the password a previous install generated, if
// one is kept (‼: the datastore on the hosts was initialised with that one).
func datastoreSecret(ctx context.Context, cs kubernetes.Interface, ns string, effective map[string]any) Check {
	name, _ := values.LookupString(effective, "datastore.existingSecret")
	if name == "" {
		return Check{Name: "datastore-secret", Severity: Pass, Message: fmt.Sprintf("the chart generates Secret %s once and keeps it (across upgrades and uninstall)", PasswordSecret)}
	}
	s, err := cs.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return Check{Name: "datastore-secret", Severity: Fail,
			Message: fmt.Sprintf("datastore.existingSecret %q does not exist in %s: romana-services could not start", name, ns),
			Fix:     fmt.Sprintf("create it first: kubectl -n %s create secret generic %s --from-literal=password=\"$(openssl rand -hex 20)\"", ns, name)}
	case err != nil:
		return Check{Name: "datastore-secret", Severity: Fail, Message: fmt.Sprintf("cannot read datastore.existingSecret %s: %v", name, err)}
	case len(s.Data["password"]) == 0:
		return Check{Name: "datastore-secret", Severity: Fail,
			Message: fmt.Sprintf("datastore.existingSecret %s has no key \"password\" (or it is empty)", name),
			Fix:     fmt.Sprintf("add it: kubectl -n %s patch secret %s --type=merge -p '{\"stringData\":{\"password\":\"…\"}}'", ns, name)}
	}
	if gen, err := cs.CoreV1().Secrets(ns).Get(ctx, PasswordSecret, metav1.GetOptions{}); err == nil && name != PasswordSecret &&
		len(gen.Data["password"]) > 0 && !bytes.Equal(gen.Data["password"], s.Data["password"]) {
		return Check{Name: "datastore-secret", Severity: Warn,
			Message: fmt.Sprintf("Secret %s (kept from an install that generated it) holds another password than datastore.existingSecret %s: a datastore already initialised with the old one would refuse the new one", PasswordSecret, name),
			Fix:     fmt.Sprintf("copy the password from %s into %s, or delete %s if no datastore was ever initialised with it", PasswordSecret, name, PasswordSecret)}
	}
	return Check{Name: "datastore-secret", Severity: Pass, Message: fmt.Sprintf("datastore.existingSecret %s holds the password (key \"password\")", name)}
}
