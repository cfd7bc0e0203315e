export { CertificateStore, keyPairOf, tlsRefs, type KeyPair, type SecretObject, type TlsRef } from './certificates.ts';
export { INGRESS_SERVING_LABEL, loadBalancerIngress, startIngressController, type IngressControllerOptions, type RunningIngressController } from './controller.ts';
export { resolveBackend, RoundRobin, slicesOf, type Resolution, type Upstream } from './endpoints.ts';
export { IngressServer, forwardHeaders, type Decision, type ListenAt, type Router } from './ingress-server.ts';
export { INGRESS_CONTROLLER, RouteTable, backendKey, hostOnly, ourClasses, pathMatches, servesIngress, type IngressClassObject, type IngressObject, type Match, type Route, type ServiceBackend } from './routes.ts';
