package migrate

import (
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// ParseSpec reads one of the original manifests (original-specs/) as today's API server
// stores it: the extensions/v1beta1 DaemonSets as apps/v1, with the selector the
// conversion takes from the template's labels. Tests apply it to a cluster and derive
// from it.
func ParseSpec(data []byte) (Found, error) {
	var f Found
	for _, doc := range strings.Split(string(data), "\n---") {
		var meta struct{ Kind string }
		if yaml.Unmarshal([]byte(doc), &meta) != nil {
			continue
		}
		switch meta.Kind {
		case "DaemonSet":
			ds := &appsv1.DaemonSet{}
			if err := yaml.Unmarshal([]byte(doc), ds); err != nil {
				return f, fmt.Errorf("DaemonSet: %w", err)
			}
			ds.APIVersion = "apps/v1"
			ds.Spec.Selector = &metav1.LabelSelector{MatchLabels: ds.Spec.Template.Labels}
			if ds.Name == "romana-services" {
				f.Services = ds
			} else {
				f.Agent = ds
			}
		case "Pod":
			// The static Pod manifest (romana-services-manifest.yml), as written to the
			// master's manifest directory.
			pod := &corev1.Pod{}
			if err := yaml.Unmarshal([]byte(doc), pod); err != nil {
				return f, fmt.Errorf("Pod: %w", err)
			}
			f.StaticPod = pod
		case "Service":
			svc := &corev1.Service{}
			if err := yaml.Unmarshal([]byte(doc), svc); err != nil {
				return f, fmt.Errorf("Service: %w", err)
			}
			f.Root = svc
		}
	}
	return f, nil
}
