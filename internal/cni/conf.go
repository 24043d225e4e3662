// Package cni is romanactl's CNI plugin for Romana v0.9.3.5: it speaks the protocol of
// the upstream plugin (a bash script in the quay.io/romana/cni image) with the CNI
// project's libraries, for any CNI_NETNS path and without docker, bash, curl, jq or
// nsenter on the node. It also installs itself and its network configuration on a node.
// It prints nothing: results go to the writer it is given.
package cni

import (
	"encoding/json"
	"fmt"
	"net/url"
	"path/filepath"

	"github.com/containernetworking/cni/pkg/types"
)

// The network configuration's fixed values, as upstream's 10-romana.conf has them.
const (
	NetworkName = "romana-k8s-network"
	PluginType  = "romana"
	IPAMType    = "romana-ipam"
	// BinaryName and ConfName are the file names upstream installs too, so a switch
	// between the plugins replaces the files in place.
	BinaryName = "romana"
	ConfName   = "10-romana.conf"
	// ConfCNIVersion is the cniVersion of the configuration Install writes.
	ConfCNIVersion = "1.0.0"
	// DefaultAgentURL is where the agent listens on every node (upstream's hard-coded
	// http://localhost:9604).
	DefaultAgentURL     = "http://127.0.0.1:9604"
	DefaultSegmentLabel = "romanaSegment"
)

// NetConf is the network configuration: upstream's keys, agent_url, and the marker
// that says which plugin wrote it.
type NetConf struct {
	types.PluginConf
	RomanaRoot       string  `json:"romana_root"`
	SegmentLabelName string  `json:"segment_label_name"`
	AgentURL         string  `json:"agent_url,omitempty"`
	LogFile          string  `json:"log_file,omitempty"`
	Romanactl        *Marker `json:"romanactl,omitempty"`
}

// Marker is the "romanactl" key: `cat` on a node shows which plugin is in place.
type Marker struct {
	Version string `json:"version"`
}

// ParseConf decodes and validates the configuration; every problem is named by its
// key and value, all at once, in one error with code 7.
func ParseConf(data []byte) (*NetConf, error) {
	c := &NetConf{}
	if err := json.Unmarshal(data, c); err != nil {
		return nil, cniErr(types.ErrDecodingFailure, "bad config", "decode network configuration: %v", err)
	}
	var probs []string
	if c.Name != NetworkName {
		probs = append(probs, fmt.Sprintf("name %q: want %q", c.Name, NetworkName))
	}
	if c.Type != PluginType {
		probs = append(probs, fmt.Sprintf("type %q: want %q", c.Type, PluginType))
	}
	if c.IPAM.Type != IPAMType {
		probs = append(probs, fmt.Sprintf("ipam.type %q: want %q", c.IPAM.Type, IPAMType))
	}
	if err := CheckURL(c.RomanaRoot); err != nil {
		probs = append(probs, fmt.Sprintf("romana_root %q: %v", c.RomanaRoot, err))
	}
	if c.SegmentLabelName == "" {
		probs = append(probs, `segment_label_name "": must be set (the pod label that names its segment, e.g. romanaSegment)`)
	}
	if c.AgentURL == "" {
		c.AgentURL = DefaultAgentURL
	} else if err := CheckURL(c.AgentURL); err != nil {
		probs = append(probs, fmt.Sprintf("agent_url %q: %v", c.AgentURL, err))
	}
	if c.LogFile != "" && !filepath.IsAbs(c.LogFile) {
		probs = append(probs, fmt.Sprintf("log_file %q: not an absolute path (the runtime's working directory is unknown), e.g. %s", c.LogFile, DefaultLogFile))
	}
	if len(probs) > 0 {
		d := probs[0]
		for _, p := range probs[1:] {
			d += "; " + p
		}
		return nil, cniErr(CodeBadConfig, "bad config", "%s", d)
	}
	return c, nil
}

// CheckURL accepts an http or https URL with a host, as romana-root's is
// (http://10.96.0.99:9600).
func CheckURL(s string) error {
	if s == "" {
		return fmt.Errorf("must be set, e.g. http://10.96.0.99:9600")
	}
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("not an http(s) URL with a host, e.g. http://10.96.0.99:9600")
	}
	return nil
}

// ConfOptions are the values of the configuration Install writes.
type ConfOptions struct {
	RomanaRoot       string
	SegmentLabelName string // default romanaSegment
	AgentURL         string // default http://127.0.0.1:9604
	LogFile          string // the plugin's log on the node; empty: no log
	Version          string // the plugin's version, for the marker
}

// RenderConf returns the network configuration file's content, validated.
func RenderConf(o ConfOptions) ([]byte, error) {
	if o.SegmentLabelName == "" {
		o.SegmentLabelName = DefaultSegmentLabel
	}
	if o.AgentURL == "" {
		o.AgentURL = DefaultAgentURL
	}
	// Written by hand, not from NetConf, so that the key order reads like upstream's file.
	v := struct {
		CNIVersion       string `json:"cniVersion"`
		Name             string `json:"name"`
		Type             string `json:"type"`
		RomanaRoot       string `json:"romana_root"`
		SegmentLabelName string `json:"segment_label_name"`
		AgentURL         string `json:"agent_url"`
		LogFile          string `json:"log_file,omitempty"`
		IPAM             struct {
			Type string `json:"type"`
		} `json:"ipam"`
		Romanactl Marker `json:"romanactl"`
	}{ConfCNIVersion, NetworkName, PluginType, o.RomanaRoot, o.SegmentLabelName, o.AgentURL, o.LogFile,
		struct {
			Type string `json:"type"`
		}{IPAMType}, Marker{o.Version}}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, err
	}
	b = append(b, '\n')
	if _, err := ParseConf(b); err != nil {
		return nil, err
	}
	return b, nil
}
