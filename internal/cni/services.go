package cni

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// services speaks to romana-root, kube-cni-proxy (in front of ipam) and the agent as the
// upstream script does with curl.
type services struct {
	http     *http.Client
	root     string
	agent    string
	proxyURL string // kube-cni-proxy's, from root's service list, looked up once
}

// endpointRequest is the body of POST and DELETE /endpoints to kube-cni-proxy.
type endpointRequest struct {
	Host      string `json:"host"`
	Namespace string `json:"namespace"`
	PodName   string `json:"podName"`
}

// podRequest is the body of POST and DELETE /pod to the agent (its NetworkRequest).
type podRequest struct {
	NetIf struct {
		Name string `json:"interface_name"`
		MAC  string `json:"mac_address"`
		IP   string `json:"ip_address"`
	} `json:"net_if"`
	Options struct {
		NamespaceIsolation string `json:"namespace_isolation"`
	} `json:"options"`
}

// httpStatusError is a Romana service's answer outside 2xx.
type httpStatusError struct {
	what   string
	status int
	body   string
}

func (e *httpStatusError) Error() string {
	return fmt.Sprintf("%s answered %d: %s", e.what, e.status, e.body)
}

// do sends one request and decodes a 2xx JSON answer into out (when out is not nil).
// A transport failure comes back as a CNI error with code 11 naming what was
// unreachable; a non-2xx answer as *httpStatusError.
func (s *services) do(what, method, u string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := s.http.Do(req)
	if err != nil {
		return cniErr(CodeUnreachable, what+" unreachable", "%s %s: %v", method, u, unwrapURLError(err))
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return &httpStatusError{what: fmt.Sprintf("%s (%s %s)", what, method, u), status: res.StatusCode, body: strings.TrimSpace(string(b))}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s (%s %s): decode answer %q: %v", what, method, u, truncate(string(b)), err)
	}
	return nil
}

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func truncate(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}

// proxy returns kube-cni-proxy's URL from romana-root's service list (GET /:
// services[name=kube-cni-proxy].links[0].href).
func (s *services) proxy() (string, error) {
	if s.proxyURL != "" {
		return s.proxyURL, nil
	}
	var idx struct {
		Services *[]struct {
			Name  string `json:"name"`
			Links []struct {
				Href string `json:"href"`
			} `json:"links"`
		} `json:"services"`
	}
	u := strings.TrimSuffix(s.root, "/") + "/"
	if err := s.do("ipam (romana-root's service list)", http.MethodGet, u, nil, &idx); err != nil {
		return "", serviceErr(err, CodeServiceError, "romana-root's service list")
	}
	if idx.Services == nil {
		return "", cniErr(CodeServiceError, "romana-root's service list", "GET %s: the answer has no services list", u)
	}
	for _, svc := range *idx.Services {
		if svc.Name == "kube-cni-proxy" && len(svc.Links) > 0 && svc.Links[0].Href != "" {
			s.proxyURL = strings.TrimSuffix(svc.Links[0].Href, "/")
			return s.proxyURL, nil
		}
	}
	return "", cniErr(CodeServiceError, "romana-root's service list", "GET %s: no kube-cni-proxy service with an address", u)
}

// serviceErr turns an error of do into a CNI error: code 11 errors pass through, others
// get code with msg.
func serviceErr(err error, code uint, msg string) error {
	if e, ok := asCNIError(err); ok {
		return e
	}
	return cniErr(code, msg, "%v", err)
}

// allocate asks ipam, through kube-cni-proxy, for the pod's address (POST /endpoints).
func (s *services) allocate(r endpointRequest) (net.IP, error) {
	p, err := s.proxy()
	if err != nil {
		return nil, err
	}
	var ans struct {
		IP string `json:"ip"`
	}
	if err := s.do("ipam (kube-cni-proxy)", http.MethodPost, p+"/endpoints", r, &ans); err != nil {
		return nil, serviceErr(err, CodeNoAddress, "no address")
	}
	ip := net.ParseIP(ans.IP).To4()
	if ip == nil {
		return nil, cniErr(CodeNoAddress, "no address", "POST %s/endpoints for %s/%s on host %s: the answer has no IPv4 address (ip %q)", p, r.Namespace, r.PodName, r.Host, ans.IP)
	}
	return ip, nil
}

// release gives the pod's address back (DELETE /endpoints). A 404, kube-cni-proxy's
// answer when it holds no allocation for the pod, is success with a nil address.
func (s *services) release(r endpointRequest) (net.IP, error) {
	p, err := s.proxy()
	if err != nil {
		return nil, err
	}
	var ans struct {
		IP string `json:"ip"`
	}
	err = s.do("ipam (kube-cni-proxy)", http.MethodDelete, p+"/endpoints", r, &ans)
	var se *httpStatusError
	if errors.As(err, &se) && se.status == http.StatusNotFound {
		return nil, nil
	}
	if err != nil {
		return nil, serviceErr(err, CodeServiceError, "release address")
	}
	return net.ParseIP(ans.IP).To4(), nil
}

// isolation reads the namespace's ingress isolation from kube-cni-proxy, "on" for
// DefaultDeny, else "off".
func (s *services) isolation(namespace string) (string, error) {
	p, err := s.proxy()
	if err != nil {
		return "", err
	}
	var ns struct {
		Metadata struct {
			Annotations map[string]string `json:"annotations"`
		} `json:"metadata"`
	}
	u := p + "/namespaces?namespace=" + url.QueryEscape(namespace)
	if err := s.do("kube-cni-proxy (namespace isolation)", http.MethodGet, u, nil, &ns); err != nil {
		return "", serviceErr(err, CodeServiceError, "namespace isolation")
	}
	pol := ns.Metadata.Annotations["net.beta.kubernetes.io/networkpolicy"]
	if pol == "" {
		return "off", nil
	}
	var v struct {
		Ingress struct {
			Isolation string `json:"isolation"`
		} `json:"ingress"`
	}
	if err := json.Unmarshal([]byte(pol), &v); err == nil && v.Ingress.Isolation == "DefaultDeny" {
		return "on", nil
	}
	return "off", nil
}

// agentPod sends POST or DELETE /pod to the agent.
func (s *services) agentPod(method, ifName, mac, ip, isolation string) error {
	var r podRequest
	r.NetIf.Name, r.NetIf.MAC, r.NetIf.IP = ifName, mac, ip
	r.Options.NamespaceIsolation = isolation
	u := strings.TrimSuffix(s.agent, "/") + "/pod"
	if err := s.do("agent", method, u, r, nil); err != nil {
		return serviceErr(err, CodeAgentRefused, "agent refused")
	}
	return nil
}
