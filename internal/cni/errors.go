package cni

import (
	"fmt"

	"github.com/containernetworking/cni/pkg/types"
)

// The error codes the plugin answers with. The spec's own codes where the spec has one
// (1-11); Romana's failures in the plugin-specific range (100 and up).
const (
	// CodeBadArgs: CNI_ARGS lacks K8S_POD_NAMESPACE or K8S_POD_NAME (spec code 4).
	CodeBadArgs = types.ErrInvalidEnvironmentVariables
	// CodeBadConfig: a key of the network configuration is missing or wrong (spec code 7).
	CodeBadConfig = types.ErrInvalidNetworkConfig
	// CodeNamespaceGone: CNI_NETNS is not a network namespace (spec code 8).
	CodeNamespaceGone = types.ErrInvalidNetNS
	// CodeUnreachable: romana-root, kube-cni-proxy (ipam) or the agent did not answer at
	// all (spec code 11, "try again later": the runtime retries).
	CodeUnreachable = types.ErrTryAgainLater
	// CodeServiceError: romana-root's service list has no kube-cni-proxy, or a Romana
	// service answered with an error to anything but the address and the agent calls.
	CodeServiceError uint = 100
	// CodeNoAddress: ipam (through kube-cni-proxy) gave no address.
	CodeNoAddress uint = 101
	// CodeAgentRefused: the agent answered POST or DELETE /pod with an error.
	CodeAgentRefused uint = 102
	// CodeNetlink: creating or removing the veth pair, the address or a route failed.
	CodeNetlink uint = 103
	// CodeNoGateway: romana-gw is missing or has no IPv4 address on the node (the agent
	// has not set the node up).
	CodeNoGateway uint = 104
	// CodeCheckFailed: CHECK found the pod's network not as ADD left it.
	CodeCheckFailed uint = 105
)

// cniErr returns a CNI error result: msg says what failed, details the cause.
func cniErr(code uint, msg string, format string, a ...any) *types.Error {
	return types.NewError(code, msg, fmt.Sprintf(format, a...))
}
