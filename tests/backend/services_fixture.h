// The inventory the service tests share: a client and two versions of a web service with an
// 80/20 canary weight, on two nodes, with a named targetPort that resolves to a different number
// on each version, a UDP port, and a service without backends.
#pragma once

namespace polc::backend_bpf::testing {

inline const char* kServicesYaml = R"(
apiVersion: v1
kind: Node
metadata: {name: n1}
status: {addresses: [{type: InternalIP, address: 192.168.65.10}]}
---
apiVersion: v1
kind: Node
metadata: {name: n2}
status: {addresses: [{type: InternalIP, address: 192.168.65.11}]}
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: default, labels: {app: client}}
spec: {nodeName: n1, containers: [{name: c}]}
status: {podIP: 10.10.1.1}
---
apiVersion: v1
kind: Pod
metadata: {name: web-v1, namespace: default, labels: {app: web, version: v1}}
spec:
  nodeName: n1
  containers:
    - name: c
      ports: [{name: http, containerPort: 8080}, {name: dns, containerPort: 5353, protocol: UDP}]
status: {podIP: 10.10.1.2}
---
apiVersion: v1
kind: Pod
metadata: {name: web-v2, namespace: default, labels: {app: web, version: v2}}
spec:
  nodeName: n2
  containers:
    - name: c
      ports: [{name: http, containerPort: 9090}, {name: dns, containerPort: 5353, protocol: UDP}]
status: {podIP: 10.10.2.3}
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: default
  annotations: {polc.dev/weights: "version=v1:80,version=v2:20"}
spec:
  type: NodePort
  clusterIP: 10.96.0.50
  selector: {app: web}
  ports:
    - {name: http, port: 80, targetPort: http, nodePort: 30080}
    - {name: dns, port: 53, protocol: UDP, targetPort: dns}
---
apiVersion: v1
kind: Service
metadata: {name: empty, namespace: default}
spec: {clusterIP: 10.96.0.60, selector: {app: nothing}, ports: [{port: 81}]}
)";

/// The client may only reach version v1 (on its target port 8080).
inline const char* kClientToV1Yaml = R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: client-to-v1, namespace: default}
spec:
  podSelector: {matchLabels: {app: client}}
  policyTypes: [Egress]
  egress:
    - to: [{podSelector: {matchLabels: {app: web, version: v1}}}]
      ports: [{port: 8080}]
)";

}  // namespace polc::backend_bpf::testing
