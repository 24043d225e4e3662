{{/*
romana.validate: the cross-field rules that values.schema.json cannot express, so that
`helm install romana ./chart` users get the protection romanactl's Go validation gives.
It collects every problem and fails once with all of them (the Bitnami validateValues
pattern). Formats (IPv4, CIDR syntax, types, unknown keys) are the schema's job and are
already checked when this runs; empty strings are allowed by the schema so that the
mandatory-value messages below can name the flag.
Usage: {{ include "romana.validate" . }}
*/}}
{{- define "romana.validate" -}}
{{- $v := .Values -}}
{{- $errs := list -}}
{{- $cidrs := dict -}}
{{- range $key, $item := dict "services.cidr" (list $v.services.cidr "--cidr") "agent.clusterIPCIDR" (list $v.agent.clusterIPCIDR "--cluster-ip-cidr") -}}
  {{- $val := index $item 0 -}}
  {{- $flag := index $item 1 -}}
  {{- if not $val -}}
    {{- $errs = append $errs (printf "%s (%s) is required: set it with %s or --set %s=<IPv4 CIDR>" $key $flag $flag $key) -}}
  {{- else -}}
    {{- $n := include "romana.cidrInfo" $val | fromJson -}}
    {{- if ne (int64 $n.offset) 0 -}}
      {{- $errs = append $errs (printf "%s (%s) %q: not the network address of its prefix; use %s/%d" $key $flag $val $n.network (int64 $n.prefix)) -}}
    {{- else -}}
      {{- $_ := set $cidrs $key $n -}}
    {{- end -}}
  {{- end -}}
{{- end -}}
{{- /* Reserved ranges (reserved-ranges.yaml, which romanactl reads too): addresses there
do not route. A CIDR that hits one is dropped from the checks below, as in Go. */ -}}
{{- range $key, $item := dict "services.cidr" (list "--cidr" "pick a private range, e.g. --cidr=10.112.0.0/12") "agent.clusterIPCIDR" (list "--cluster-ip-cidr" "use the cluster's service range (kube-apiserver --service-cluster-ip-range)") -}}
  {{- if hasKey $cidrs $key -}}
    {{- $a := get $cidrs $key -}}
    {{- $hit := list -}}
    {{- range ($.Files.Get "reserved-ranges.yaml" | fromYaml).ranges -}}
      {{- $r := include "romana.cidrInfo" .cidr | fromJson -}}
      {{- if and (lt (int64 $a.start) (int64 $r.end)) (lt (int64 $r.start) (int64 $a.end)) -}}
        {{- $hit = append $hit (printf "%s %s" .name .cidr) -}}
      {{- end -}}
    {{- end -}}
    {{- if $hit -}}
      {{- $errs = append $errs (printf "%s (%s) %q: overlaps the %s %s: addresses there do not route; %s" $key (index $item 0) (printf "%s/%d" $a.network (int64 $a.prefix)) (join ", " $hit) (ternary "ranges" "range" (gt (len $hit) 1)) (index $item 1)) -}}
      {{- $_ := unset $cidrs $key -}}
    {{- end -}}
  {{- end -}}
{{- end -}}
{{- /* The address plan: prefix + bits(nodes) + bits(namespaces) + bits(segments) < 32. */ -}}
{{- if hasKey $cidrs "services.cidr" -}}
  {{- $c := get $cidrs "services.cidr" -}}
  {{- $hb := include "romana.bits" $v.services.nodes | atoi -}}
  {{- $tb := include "romana.bits" $v.services.namespaces | atoi -}}
  {{- $sb := include "romana.bits" $v.services.segments | atoi -}}
  {{- $eb := sub (sub (sub (sub 32 (int64 $c.prefix)) $hb) $tb) $sb -}}
  {{- if lt (int64 $eb) 1 -}}
    {{- /* The longest prefix that leaves one endpoint bit; below /0 no CIDR can. */ -}}
    {{- $need := sub (sub (sub 31 $hb) $tb) $sb -}}
    {{- /* A line whose services parse no --nodes always plans 256: fewer nodes is no fix. */ -}}
    {{- $fewer := "fewer nodes, namespaces or segments" -}}
    {{- $ptag := include "romana.tag" . -}}
    {{- $pline := dict -}}
    {{- range (.Files.Get "compat.yaml" | fromYaml).lines -}}
      {{- if and (not $pline) (regexMatch .match $ptag) -}}{{- $pline = . -}}{{- end -}}
    {{- end -}}
    {{- if and $pline $pline.drivable (hasKey $pline "servicesParsesNodes") (not $pline.servicesParsesNodes) -}}
      {{- $fewer = printf "fewer namespaces or segments (the %s line always plans for 256 nodes: its services parse no --nodes)" $pline.name -}}
    {{- end -}}
    {{- $fix := printf "no IPv4 CIDR can hold this plan: use %s" $fewer -}}
    {{- if ge (int64 $need) 0 -}}
      {{- $larger := include "romana.cidrInfo" (printf "%s/%d" (index (splitList "/" $v.services.cidr) 0) (int64 $need)) | fromJson -}}
      {{- $fix = printf "use a larger CIDR, e.g. --cidr=%s/%d (a prefix of /%d or shorter), or %s" $larger.network (int64 $need) (int64 $need) $fewer -}}
    {{- end -}}
    {{- $errs = append $errs (printf "services.cidr (--cidr) %q: the address plan does not fit: prefix %d + node bits %d (services.nodes=%v) + namespace bits %d (services.namespaces=%v) + segment bits %d (services.segments=%v) = %d, which leaves %d bits for endpoints; it must be below 32; %s" $v.services.cidr (int64 $c.prefix) $hb $v.services.nodes $tb $v.services.namespaces $sb $v.services.segments (sub 32 $eb) $eb $fix) -}}
  {{- end -}}
{{- end -}}
{{- if and (hasKey $cidrs "services.cidr") (hasKey $cidrs "agent.clusterIPCIDR") -}}
  {{- $a := get $cidrs "services.cidr" -}}
  {{- $b := get $cidrs "agent.clusterIPCIDR" -}}
  {{- if and (lt (int64 $a.start) (int64 $b.end)) (lt (int64 $b.start) (int64 $a.end)) -}}
    {{- $errs = append $errs (printf "services.cidr (--cidr) %q overlaps agent.clusterIPCIDR (--cluster-ip-cidr) %q: pod addresses and service addresses must be disjoint; pick a Romana CIDR outside the service range" $v.services.cidr $v.agent.clusterIPCIDR) -}}
  {{- end -}}
{{- end -}}
{{- /* The root Service's fixed clusterIP. */ -}}
{{- $ip := $v.romanaRoot.clusterIP -}}
{{- if not $ip -}}
  {{- $errs = append $errs "romanaRoot.clusterIP (--cluster-ip) is required: set it to a free address inside the service range with --cluster-ip or --set romanaRoot.clusterIP=<IPv4>" -}}
{{- else -}}
  {{- $i := include "romana.ipToInt" $ip | atoi -}}
  {{- if hasKey $cidrs "agent.clusterIPCIDR" -}}
    {{- $s := get $cidrs "agent.clusterIPCIDR" -}}
    {{- /* A /31 or /32 has no address besides its network and broadcast ones. */ -}}
    {{- $example := "use a service range of /30 or larger" -}}
    {{- /* An address in the lower band, which Kubernetes keeps for fixed addresses
    (KEP-3070: min(max(16, size/16), 256) addresses), as romanactl suggests. */ -}}
    {{- $size := sub (int64 $s.end) (int64 $s.start) -}}
    {{- if gt (int64 $size) 16 -}}
      {{- $band := min (max 16 (div $size 16)) 256 -}}
      {{- $example = printf "e.g. --cluster-ip=%s (in the lower band of the service range, which Kubernetes keeps for fixed addresses)" (include "romana.intToIP" (add (int64 $s.start) (min 99 $band))) -}}
    {{- else if lt (int64 $s.prefix) 31 -}}{{- $example = printf "e.g. --cluster-ip=%s" (include "romana.intToIP" (sub (int64 $s.end) 2)) -}}{{- end -}}
    {{- if or (lt (int64 $i) (int64 $s.start)) (ge (int64 $i) (int64 $s.end)) -}}
      {{- $errs = append $errs (printf "romanaRoot.clusterIP (--cluster-ip) %s is outside agent.clusterIPCIDR (--cluster-ip-cidr) %s: a Service's clusterIP must lie inside the service range; pick an address inside it, %s" $ip $v.agent.clusterIPCIDR $example) -}}
    {{- else if or (eq (int64 $i) (int64 $s.start)) (eq (int64 $i) (sub (int64 $s.end) 1)) -}}
      {{- $errs = append $errs (printf "romanaRoot.clusterIP (--cluster-ip) %s is the network or broadcast address of agent.clusterIPCIDR (--cluster-ip-cidr) %s: the API server never allocates it; pick another address, %s" $ip $v.agent.clusterIPCIDR $example) -}}
    {{- end -}}
  {{- end -}}
  {{- if hasKey $cidrs "services.cidr" -}}
    {{- $c := get $cidrs "services.cidr" -}}
    {{- if and (ge (int64 $i) (int64 $c.start)) (lt (int64 $i) (int64 $c.end)) -}}
      {{- $errs = append $errs (printf "romanaRoot.clusterIP (--cluster-ip) %s lies inside services.cidr (--cidr) %s: the root Service's address must not be a pod address; pick one in the service range outside the Romana CIDR" $ip $v.services.cidr) -}}
    {{- end -}}
  {{- end -}}
{{- end -}}
{{- /* The agent must reach root at its clusterIP and port. */ -}}
{{- if and $v.agent.romanaRoot $ip -}}
  {{- $u := urlParse $v.agent.romanaRoot -}}
  {{- $port := "" -}}
  {{- $hostport := splitList ":" $u.host -}}
  {{- if eq (len $hostport) 2 -}}{{- $port = last $hostport -}}{{- else if eq $u.scheme "https" -}}{{- $port = "443" -}}{{- else -}}{{- $port = "80" -}}{{- end -}}
  {{- if and (regexMatch "^[0-9.]+$" $u.hostname) (ne $u.hostname $ip) -}}
    {{- $errs = append $errs (printf "agent.romanaRoot (--romana-root) %q: its host %s is not romanaRoot.clusterIP %s, so the agent could not reach root; drop --romana-root to use http://%s:%v" $v.agent.romanaRoot $u.hostname $ip $ip $v.romanaRoot.port) -}}
  {{- end -}}
  {{- if ne $port (toString $v.romanaRoot.port) -}}
    {{- $errs = append $errs (printf "agent.romanaRoot (--romana-root) %q: its port %s is not the root Service's port %v (romanaRoot.port), so the agent could not reach root; use http://%s:%v" $v.agent.romanaRoot $port $v.romanaRoot.port $ip $v.romanaRoot.port) -}}
  {{- end -}}
{{- end -}}
{{- /* romana-services' API access: through the proxy, or an explicit URL. */ -}}
{{- if $v.apiProxy.enabled -}}
  {{- $p := toString $v.apiProxy.port -}}
  {{- $owner := get (.Files.Get "ports.yaml" | fromYaml).ports $p -}}
  {{- if $owner -}}
    {{- $errs = append $errs (printf "apiProxy.port (--api-proxy-port) \"%s\": is the port of %s on the control-plane node, where the proxy listens (the pod is hostNetwork); pick a free port, e.g. --api-proxy-port=8001" $p $owner) -}}
  {{- end -}}
  {{- $want := printf "http://127.0.0.1:%s" $p -}}
  {{- if and $v.services.apiServer (ne $v.services.apiServer $want) -}}
    {{- $errs = append $errs (printf "services.apiServer (--api-server) %q: with apiProxy.enabled romana-services must reach the API through the proxy at %s; drop --api-server, or turn the proxy off with --api-proxy=false" $v.services.apiServer $want) -}}
  {{- end -}}
{{- else if not $v.services.apiServer -}}
  {{- $errs = append $errs "services.apiServer (--api-server) is required when apiProxy.enabled (--api-proxy) is false: romana-services calls it without credentials; give a URL that needs none, or keep --api-proxy=true" -}}
{{- end -}}
{{- /* The image line (compat.yaml, the table romanactl reads too): a line this chart
cannot drive is refused, and so is a --nodes its services entrypoint does not parse. */ -}}
{{- $tag := include "romana.tag" . -}}
{{- $line := dict -}}
{{- range (.Files.Get "compat.yaml" | fromYaml).lines -}}
  {{- if and (not $line) (regexMatch .match $tag) -}}{{- $line = . -}}{{- end -}}
{{- end -}}
{{- if and $line (not $line.drivable) -}}
  {{- $errs = append $errs (printf "image.tag (--tag) %q: a tag of Romana's %s line, which this chart cannot drive: %s; use a tag of the v0.9.3 line, e.g. --tag=%s (the chart's appVersion)" $tag $line.name $line.differs .Chart.AppVersion) -}}
{{- else if and $line (hasKey $line "servicesParsesNodes") (not $line.servicesParsesNodes) (ne (int64 $v.services.nodes) 256) -}}
  {{- $errs = append $errs (printf "services.nodes (--nodes) \"%v\": the %s services image (tag %s) parses no --nodes (its entrypoint exits with \"Unknown option\") and always plans for 256 nodes; leave services.nodes at 256 (drop --nodes)" $v.services.nodes $line.name $tag) -}}
{{- end -}}
{{- /* services.dataDir: a clean absolute path that is not a system directory
(host-paths.yaml, which romanactl reads too): the datastore writes there, and romanactl
uninstall --purge-datastore deletes there. The schema checks that it is absolute. */ -}}
{{- $dd := $v.services.dataDir -}}
{{- if and $dd (hasPrefix "/" $dd) -}}
  {{- $hp := .Files.Get "host-paths.yaml" | fromYaml -}}
  {{- $clean := clean $dd -}}
  {{- $why := "" -}}
  {{- range $hp.trees -}}
    {{- if and (not $why) (or (eq $clean .) (hasPrefix (printf "%s/" .) $clean)) -}}
      {{- $why = printf "inside %s, which belongs to the kernel, the runtime or the node's Kubernetes components" . -}}
    {{- end -}}
  {{- end -}}
  {{- if and (not $why) (has $clean $hp.exact) -}}
    {{- $why = "a system directory" -}}
  {{- end -}}
  {{- $own := printf "use a directory of Romana's own, e.g. %s" $hp.example -}}
  {{- if and (ne $clean $dd) $why -}}
    {{- $errs = append $errs (printf "services.dataDir %q: not a clean path: it resolves to %s, %s; %s" $dd $clean $why $own) -}}
  {{- else if ne $clean $dd -}}
    {{- $errs = append $errs (printf "services.dataDir %q: not a clean path (it has \".\", \"..\", \"//\" or a trailing \"/\"); write it as %s" $dd $clean) -}}
  {{- else if $why -}}
    {{- $errs = append $errs (printf "services.dataDir %q: %s: the datastore would write among the host's files, and uninstall --purge-datastore deletes there; %s" $dd $why $own) -}}
  {{- end -}}
{{- end -}}
{{- if $errs -}}
{{- fail (printf "\n\nromana: %d invalid value(s):\n  - %s\n" (len $errs) (join "\n  - " $errs)) -}}
{{- end -}}
{{- end -}}

{{/*
romana.ipToInt: an IPv4 address as an integer. The schema has already checked the format.
Usage: {{ include "romana.ipToInt" "10.0.0.1" | atoi }}
*/}}
{{- define "romana.ipToInt" -}}
{{- $o := splitList "." . -}}
{{- add (mul (atoi (index $o 0)) 16777216) (mul (atoi (index $o 1)) 65536) (mul (atoi (index $o 2)) 256) (atoi (index $o 3)) -}}
{{- end -}}

{{/*
romana.intToIP: the dotted form of an IPv4 address held as an integer.
Usage: {{ include "romana.intToIP" 167772161 }}
*/}}
{{- define "romana.intToIP" -}}
{{- $n := int64 . -}}
{{- printf "%d.%d.%d.%d" (div $n 16777216) (mod (div $n 65536) 256) (mod (div $n 256) 256) (mod $n 256) -}}
{{- end -}}

{{/*
romana.pow2: 2 to the power of the argument.
Usage: {{ include "romana.pow2" 8 | atoi }}
*/}}
{{- define "romana.pow2" -}}
{{- $r := 1 -}}
{{- range until (int .) -}}{{- $r = mul $r 2 -}}{{- end -}}
{{- $r -}}
{{- end -}}

{{/*
romana.bits: SETTINGS.md's bits(n), the smallest i >= 1 with 2^i >= n.
Usage: {{ include "romana.bits" 256 | atoi }}
*/}}
{{- define "romana.bits" -}}
{{- $n := int64 . -}}
{{- $bits := 1 -}}
{{- $capacity := 2 -}}
{{- range until 40 -}}
  {{- if lt (int64 $capacity) $n -}}{{- $bits = add $bits 1 -}}{{- $capacity = mul $capacity 2 -}}{{- end -}}
{{- end -}}
{{- $bits -}}
{{- end -}}

{{/*
romana.cidrInfo: facts about an IPv4 CIDR as JSON: prefix, start (the network as an
integer), end (one past the last address), offset (how far the given address is from
the network; non-zero means not canonical) and network (dotted).
Usage: {{ include "romana.cidrInfo" "10.0.0.0/8" | fromJson }}
*/}}
{{- define "romana.cidrInfo" -}}
{{- $parts := splitList "/" . -}}
{{- $prefix := atoi (index $parts 1) -}}
{{- $ip := include "romana.ipToInt" (index $parts 0) | atoi -}}
{{- $size := include "romana.pow2" (sub 32 $prefix) | atoi -}}
{{- $offset := mod $ip $size -}}
{{- $start := sub $ip $offset -}}
{{- dict "prefix" $prefix "start" $start "end" (add $start $size) "offset" $offset "network" (include "romana.intToIP" $start) | toJson -}}
{{- end -}}
