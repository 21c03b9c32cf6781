#!/usr/bin/env node
// Validates every object that `kubectl kustomize deploy/k8s` renders, offline:
//  1. against the Kubernetes OpenAPI schemas (npm kubernetes-models) and KEDA's CRD schemas
//     (@kubernetes-models/keda) — an object of a kind neither package knows is an error;
//  2. with structural checks the schemas cannot make: names, namespaces, selectors that match their pod
//     labels, probe ports that exist, and references (Secrets, ConfigMaps, PVCs, Services, the KEDA
//     target and authentication) that resolve to rendered objects;
//  3. with the security rules of docs/security.md: every pod hardened (no service-account token, non-root,
//     RuntimeDefault seccomp, no privilege escalation, all capabilities dropped, read-only root filesystem, no host
//     namespaces or hostPath, CPU and memory requests and limits); a default-deny NetworkPolicy in every namespace
//     that runs pods and no rule open to every peer (DNS aside) or to all of the internet's private ranges; no
//     Secret holding a placeholder (change-me) or an empty password; no application using the broker's
//     administrator or the database's superuser, and no two applications sharing a broker user.
//
//   npm ci --prefix deploy && node deploy/validate-k8s.mjs            (renders deploy/k8s with kubectl)
//   node deploy/validate-k8s.mjs rendered.yaml                          (or a file; - for stdin)
//   node deploy/validate-k8s.mjs --self-test                            (checks that broken objects fail)
//   docker-compose -f deploy/docker-compose.yml config | node deploy/validate-k8s.mjs --compose -
//       (every compose service: no-new-privileges, cap_drop ALL, read-only root, a memory limit, its own
//        networks, ports published on 127.0.0.1 only, no admin or superuser credential in an application)
// Exits 1 on any error.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";

const here = dirname(fileURLToPath(import.meta.url));

/** The module that holds the models of one apiVersion. */
function modelModule(apiVersion) {
  if (apiVersion === "v1") return "kubernetes-models/v1";
  const [group, version] = apiVersion.split("/");
  if (group === "keda.sh") return `@kubernetes-models/keda/keda.sh/${version}`;
  return `kubernetes-models/${group}/${version}`;
}

// kustomize wraps long base64 values over several lines; the API server's decoder (Go's encoding/base64)
// skips line breaks, the schema's "byte" format does not. Validate what the API server decodes.
function normalized(obj) {
  if (obj.kind !== "Secret" && obj.kind !== "ConfigMap") return obj;
  const unwrap = (data) => data && Object.fromEntries(Object.entries(data).map(([k, v]) => [k, typeof v === "string" ? v.replace(/[\r\n]/g, "") : v]));
  const copy = { ...obj };
  if (obj.kind === "Secret" && obj.data) copy.data = unwrap(obj.data);
  if (obj.binaryData) copy.binaryData = unwrap(obj.binaryData);
  return copy;
}

async function schemaErrors(obj) {
  let module;
  try {
    module = await import(modelModule(obj.apiVersion));
  } catch {
    return [`no schema for apiVersion ${obj.apiVersion}`];
  }
  const Model = module[obj.kind];
  if (typeof Model !== "function") return [`no schema for ${obj.apiVersion} ${obj.kind}`];
  try {
    new Model(normalized(obj)).validate();
    return [];
  } catch (e) {
    return String(e.message ?? e).split(", ").map((m) => `schema: ${m}`);
  }
}

const dns1123Subdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const clusterScoped = new Set(["Namespace", "PersistentVolume", "StorageClass", "ClusterRole", "ClusterRoleBinding", "ClusterTriggerAuthentication"]);

function podSpecOf(obj) {
  switch (obj.kind) {
    case "Deployment":
    case "StatefulSet":
    case "DaemonSet":
    case "Job":
      return obj.spec?.template?.spec;
    case "Pod":
      return obj.spec;
    case "CronJob":
      return obj.spec?.jobTemplate?.spec?.template?.spec;
    default:
      return undefined;
  }
}

// ---------------------------------------------------------------- security rules (docs/security.md)

/** Errors in one pod template's hardening. */
function podSecurityErrors(pod) {
  const errors = [];
  const psc = pod.securityContext ?? {};
  if (pod.automountServiceAccountToken !== false) errors.push("automountServiceAccountToken is not false");
  for (const host of ["hostNetwork", "hostPID", "hostIPC"]) if (pod[host] === true) errors.push(`${host} is true`);
  for (const v of pod.volumes ?? []) if (v.hostPath) errors.push(`volume ${v.name} is a hostPath`);
  for (const c of [...(pod.initContainers ?? []), ...(pod.containers ?? [])]) {
    const where = `container ${c.name}`;
    const sc = c.securityContext ?? {};
    const seccomp = sc.seccompProfile?.type ?? psc.seccompProfile?.type;
    if (seccomp !== "RuntimeDefault" && seccomp !== "Localhost") errors.push(`${where}: seccompProfile is not RuntimeDefault`);
    if ((sc.runAsNonRoot ?? psc.runAsNonRoot) !== true) errors.push(`${where}: runAsNonRoot is not true`);
    if ((sc.runAsUser ?? psc.runAsUser) === 0) errors.push(`${where}: runAsUser is 0 (root)`);
    if (sc.allowPrivilegeEscalation !== false) errors.push(`${where}: allowPrivilegeEscalation is not false`);
    if (sc.privileged === true) errors.push(`${where}: privileged`);
    if (!(sc.capabilities?.drop ?? []).includes("ALL")) errors.push(`${where}: capabilities do not drop ALL`);
    if ((sc.capabilities?.add ?? []).length > 0) errors.push(`${where}: adds capabilities ${sc.capabilities.add.join(", ")}`);
    if (sc.readOnlyRootFilesystem !== true) errors.push(`${where}: readOnlyRootFilesystem is not true`);
    for (const kind of ["requests", "limits"]) {
      for (const resource of ["cpu", "memory"]) {
        if (c.resources?.[kind]?.[resource] === undefined) errors.push(`${where}: no ${resource} in resources.${kind}`);
      }
    }
  }
  return errors;
}

/** A Secret's values as text (data decoded from base64, stringData as is). */
function secretValues(secret) {
  const values = {};
  for (const [k, v] of Object.entries(secret.data ?? {})) values[k] = Buffer.from(String(v).replace(/[\r\n]/g, ""), "base64").toString("utf8");
  for (const [k, v] of Object.entries(secret.stringData ?? {})) values[k] = String(v);
  return values;
}

/** The user and password inside a URL (scheme://user:password@host) or an Npgsql-style string; null when neither. */
export function credentialOf(value) {
  const url = /^[a-z][a-z0-9+.-]*:\/\/([^/@]*)@/i.exec(value);
  if (url) {
    const [user, ...rest] = url[1].split(":");
    return { user: decodeURIComponent(user), password: rest.length ? decodeURIComponent(rest.join(":")) : "" };
  }
  if (!/(^|;)\s*(host|server|username|user id|user)\s*=/i.test(value)) return null;
  const fields = {};
  for (const part of value.split(";")) {
    const i = part.indexOf("=");
    if (i > 0) fields[part.slice(0, i).trim().toLowerCase().replace(/\s+/g, "")] = part.slice(i + 1).trim().replace(/^(['"])(.*)\1$/, "$2");
  }
  const user = fields.username ?? fields.userid ?? fields.user ?? fields.uid ?? "";
  const password = fields.password ?? fields.psw ?? fields.pwd ?? "";
  return { user, password };
}

const placeholder = /change-?me|changeit|placeholder/i;
const passwordKey = /(^|_)(PASS|PASSWORD|PWD|PSW)$|PASSWORD/i;

function secretErrors(secret) {
  const errors = [];
  for (const [key, value] of Object.entries(secretValues(secret))) {
    if (placeholder.test(value)) errors.push(`key ${key} holds a placeholder value (change-me): not a usable secret`);
    if (passwordKey.test(key) && value.trim() === "") errors.push(`key ${key} is an empty password`);
    const credential = credentialOf(value);
    if (credential && credential.password === "") errors.push(`key ${key} holds an empty password (user '${credential.user}')`);
  }
  return errors;
}

const privateRanges = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16"];

function networkPolicyErrors(policy) {
  const errors = [];
  for (const [direction, peersKey] of [["ingress", "from"], ["egress", "to"]]) {
    for (const [i, rule] of (policy.spec?.[direction] ?? []).entries()) {
      const where = `${direction}[${i}]`;
      const ports = rule.ports ?? [];
      const dnsOnly = ports.length > 0 && ports.every((p) => Number(p.port) === 53);
      if ((rule[peersKey] ?? []).length === 0 && !dnsOnly) errors.push(`${where}: open to every peer${ports.length ? "" : " on every port"}`);
      for (const peer of rule[peersKey] ?? []) {
        const block = peer.ipBlock;
        if (block && /^(0\.0\.0\.0|::)\/0$/.test(block.cidr) && !privateRanges.every((r) => (block.except ?? []).includes(r))) {
          errors.push(`${where}: ipBlock ${block.cidr} does not except the private ranges ${privateRanges.join(", ")}`);
        }
        if (peer.namespaceSelector && Object.keys(peer.namespaceSelector).length === 0 && !peer.podSelector) errors.push(`${where}: a peer selects every namespace`);
      }
    }
  }
  return errors;
}

function isDefaultDeny(policy) {
  const spec = policy.spec ?? {};
  const types = spec.policyTypes ?? [];
  return Object.keys(spec.podSelector ?? {}).length === 0 && types.includes("Ingress") && types.includes("Egress")
    && (spec.ingress ?? []).length === 0 && (spec.egress ?? []).length === 0;
}

/** Rules over several objects: default-deny per namespace, and which credentials the applications use. */
function crossObjectErrors(objects, index) {
  const errors = [];
  const namespacesWithPods = new Set(objects.filter((o) => podSpecOf(o)).map((o) => o.metadata?.namespace));
  for (const ns of namespacesWithPods) {
    const denied = objects.some((o) => o.kind === "NetworkPolicy" && o.metadata?.namespace === ns && isDefaultDeny(o));
    if (!denied) errors.push(`namespace ${ns}: no default-deny NetworkPolicy (podSelector {}, policyTypes Ingress and Egress, no rules)`);
  }
  // Who the administrators are: well-known names, and what the servers' own Secrets name.
  const brokerAdmins = new Set(["guest", "admin", "administrator"]);
  const superusers = new Set(["postgres"]);
  for (const o of objects.filter((x) => x.kind === "Secret")) {
    const values = secretValues(o);
    for (const key of ["RABBITMQ_ADMIN_USER", "RABBITMQ_DEFAULT_USER"]) if (values[key]) brokerAdmins.add(values[key]);
    if (values.POSTGRES_USER) superusers.add(values.POSTGRES_USER);
  }
  const secretKey = (ns, name, key) => {
    const secret = index.get(`Secret/${ns}/${name}`);
    return secret ? secretValues(secret)[key] : undefined;
  };
  const brokerUsers = new Map();
  for (const o of objects.filter((x) => podSpecOf(x))) {
    const ns = o.metadata?.namespace;
    for (const c of [...(podSpecOf(o).initContainers ?? []), ...(podSpecOf(o).containers ?? [])]) {
      const env = {};
      for (const e of c.envFrom ?? []) {
        const secret = e.secretRef && index.get(`Secret/${ns}/${e.secretRef.name}`);
        if (secret) Object.assign(env, secretValues(secret));
      }
      for (const e of c.env ?? []) {
        const ref = e.valueFrom?.secretKeyRef;
        if (ref) env[e.name] = secretKey(ns, ref.name, ref.key);
      }
      const where = `${o.kind} ${o.metadata?.name} container ${c.name}`;
      const broker = env.ACTIVATIONS_RABBITMQ && credentialOf(env.ACTIVATIONS_RABBITMQ);
      if (broker) {
        if (brokerAdmins.has(broker.user)) errors.push(`${where}: ACTIVATIONS_RABBITMQ uses the broker's administrator '${broker.user}'`);
        const users = brokerUsers.get(broker.user) ?? new Set();
        users.add(o.metadata?.name);
        brokerUsers.set(broker.user, users);
      }
      const store = env.ACTIVATIONS_POSTGRES && credentialOf(env.ACTIVATIONS_POSTGRES);
      if (store && superusers.has(store.user)) errors.push(`${where}: ACTIVATIONS_POSTGRES uses the database superuser '${store.user}'`);
    }
  }
  for (const [user, workloads] of brokerUsers) {
    if (workloads.size > 1) errors.push(`broker user '${user}' is shared by ${[...workloads].join(", ")}: one user per role`);
  }
  for (const o of objects.filter((x) => x.kind === "TriggerAuthentication")) {
    for (const ref of o.spec?.secretTargetRef ?? []) {
      const credential = credentialOf(secretKey(o.metadata?.namespace, ref.name, ref.key) ?? "");
      if (credential && brokerAdmins.has(credential.user)) errors.push(`TriggerAuthentication ${o.metadata?.name}: KEDA uses the broker's administrator '${credential.user}'`);
    }
  }
  return errors;
}

function structuralErrors(obj, index) {
  const errors = [];
  const name = obj.metadata?.name;
  const has = (kind, n) => index.has(`${kind}/${obj.metadata?.namespace ?? ""}/${n}`);
  if (!name || name.length > 253 || !dns1123Subdomain.test(name)) errors.push(`metadata.name '${name}' is not a DNS-1123 name`);
  if (!clusterScoped.has(obj.kind) && !obj.metadata?.namespace) errors.push("no metadata.namespace");

  if (["Deployment", "StatefulSet", "DaemonSet"].includes(obj.kind)) {
    const selector = obj.spec?.selector?.matchLabels ?? {};
    const labels = obj.spec?.template?.metadata?.labels ?? {};
    if (Object.keys(selector).length === 0) errors.push("spec.selector.matchLabels is empty");
    for (const [k, v] of Object.entries(selector)) {
      if (labels[k] !== v) errors.push(`selector ${k}=${v} does not match the pod template's labels`);
    }
  }
  if (obj.kind === "StatefulSet" && obj.spec?.serviceName && !has("Service", obj.spec.serviceName)) {
    errors.push(`serviceName ${obj.spec.serviceName}: no such Service`);
  }
  if (obj.kind === "Service") {
    const selector = obj.spec?.selector ?? {};
    const matched = [...index.values()].some((o) => {
      const labels = podSpecOf(o) ? o.spec?.template?.metadata?.labels ?? {} : {};
      return o.metadata?.namespace === obj.metadata?.namespace && Object.keys(selector).length > 0
        && Object.entries(selector).every(([k, v]) => labels[k] === v);
    });
    if (!matched) errors.push("its selector matches no rendered workload");
  }

  const pod = podSpecOf(obj);
  if (pod) errors.push(...podSecurityErrors(pod));
  if (obj.kind === "Secret") errors.push(...secretErrors(obj));
  if (obj.kind === "NetworkPolicy") errors.push(...networkPolicyErrors(obj));
  if (pod) {
    const claimTemplates = new Set((obj.spec?.volumeClaimTemplates ?? []).map((t) => t.metadata?.name));
    const volumes = new Set([...(pod.volumes ?? []).map((v) => v.name), ...claimTemplates]);
    for (const v of pod.volumes ?? []) {
      if (v.persistentVolumeClaim && !has("PersistentVolumeClaim", v.persistentVolumeClaim.claimName)) errors.push(`volume ${v.name}: no PersistentVolumeClaim ${v.persistentVolumeClaim.claimName}`);
      if (v.secret && !has("Secret", v.secret.secretName)) errors.push(`volume ${v.name}: no Secret ${v.secret.secretName}`);
      if (v.configMap && !has("ConfigMap", v.configMap.name)) errors.push(`volume ${v.name}: no ConfigMap ${v.configMap.name}`);
    }
    for (const c of [...(pod.initContainers ?? []), ...(pod.containers ?? [])]) {
      const where = `container ${c.name}`;
      if (!/:[^/]+$/.test(c.image ?? "") || /:latest$/.test(c.image)) errors.push(`${where}: image '${c.image}' is not pinned by a version tag`);
      for (const m of c.volumeMounts ?? []) if (!volumes.has(m.name)) errors.push(`${where}: volumeMount ${m.name} has no volume`);
      for (const e of c.envFrom ?? []) {
        if (e.secretRef && !e.secretRef.optional && !has("Secret", e.secretRef.name)) errors.push(`${where}: envFrom: no Secret ${e.secretRef.name}`);
        if (e.configMapRef && !e.configMapRef.optional && !has("ConfigMap", e.configMapRef.name)) errors.push(`${where}: envFrom: no ConfigMap ${e.configMapRef.name}`);
      }
      for (const e of c.env ?? []) {
        const s = e.valueFrom?.secretKeyRef;
        const m = e.valueFrom?.configMapKeyRef;
        if (s && !has("Secret", s.name)) errors.push(`${where}: env ${e.name}: no Secret ${s.name}`);
        if (s && has("Secret", s.name) && !s.optional) {
          const secret = index.get(`Secret/${obj.metadata.namespace}/${s.name}`);
          if (!(s.key in (secret.data ?? {})) && !(s.key in (secret.stringData ?? {}))) errors.push(`${where}: env ${e.name}: Secret ${s.name} has no key ${s.key}`);
        }
        if (m && !has("ConfigMap", m.name)) errors.push(`${where}: env ${e.name}: no ConfigMap ${m.name}`);
      }
      const ports = new Set((c.ports ?? []).flatMap((p) => [p.name, p.containerPort]));
      for (const probe of ["startupProbe", "livenessProbe", "readinessProbe"]) {
        const port = c[probe]?.httpGet?.port ?? c[probe]?.tcpSocket?.port;
        if (port !== undefined && typeof port === "string" && !ports.has(port)) errors.push(`${where}: ${probe} port '${port}' is not a named container port`);
      }
    }
  }

  if (obj.kind === "ScaledObject") {
    const spec = obj.spec ?? {};
    const target = spec.scaleTargetRef ?? {};
    const targetKind = target.kind ?? "Deployment";
    if (!has(targetKind, target.name)) errors.push(`scaleTargetRef: no ${targetKind} ${target.name}`);
    if ((spec.minReplicaCount ?? 0) > (spec.maxReplicaCount ?? 100)) errors.push("minReplicaCount > maxReplicaCount");
    for (const [i, t] of (spec.triggers ?? []).entries()) {
      const where = `triggers[${i}] (${t.type})`;
      for (const [k, v] of Object.entries(t.metadata ?? {})) if (typeof v !== "string") errors.push(`${where}: metadata.${k} must be a string`);
      const auth = t.authenticationRef;
      if (auth && !has(auth.kind ?? "TriggerAuthentication", auth.name)) errors.push(`${where}: no ${auth.kind ?? "TriggerAuthentication"} ${auth.name}`);
      if (t.type === "rabbitmq") {
        const md = t.metadata ?? {};
        if (!md.queueName) errors.push(`${where}: no queueName`);
        if (!md.host && !md.hostFromEnv && !auth) errors.push(`${where}: no host, hostFromEnv or authenticationRef`);
        if (md.useRegex === "true" && md.protocol !== "http") errors.push(`${where}: useRegex needs protocol http`);
        if (md.useRegex === "true") {
          try { new RegExp(md.queueName); } catch (e) { errors.push(`${where}: queueName is not a regex: ${e.message}`); }
        }
        if (md.operation && !["sum", "max", "avg"].includes(md.operation)) errors.push(`${where}: operation must be sum, max or avg`);
        if (md.mode && !["QueueLength", "MessageRate", "DeliverGetRate", "PublishedToDeliveredRatio", "ExpectedQueueConsumptionTime"].includes(md.mode)) errors.push(`${where}: unknown mode ${md.mode}`);
        if (md.value !== undefined && !Number.isFinite(Number(md.value))) errors.push(`${where}: value '${md.value}' is not a number`);
      }
    }
  }
  if (obj.kind === "TriggerAuthentication") {
    for (const ref of obj.spec?.secretTargetRef ?? []) {
      const secret = index.get(`Secret/${obj.metadata?.namespace}/${ref.name}`);
      if (!secret) errors.push(`secretTargetRef ${ref.parameter}: no Secret ${ref.name}`);
      else if (!(ref.key in (secret.data ?? {})) && !(ref.key in (secret.stringData ?? {}))) errors.push(`secretTargetRef ${ref.parameter}: Secret ${ref.name} has no key ${ref.key}`);
    }
  }
  return errors;
}

/** The compose file's rules, on `docker-compose config` output: one list of errors per service. */
export function validateCompose(yamlText) {
  const doc = parseAllDocuments(yamlText)[0]?.toJS() ?? {};
  const results = [];
  for (const [name, service] of Object.entries(doc.services ?? {})) {
    const errors = [];
    if (!(service.security_opt ?? []).some((o) => /^no-new-privileges(:true)?$/.test(o))) errors.push("no security_opt no-new-privileges:true");
    if (!(service.cap_drop ?? []).includes("ALL")) errors.push("cap_drop does not hold ALL");
    if ((service.cap_add ?? []).length) errors.push(`cap_add ${service.cap_add.join(", ")}`);
    if (service.privileged) errors.push("privileged");
    if (service.read_only !== true) errors.push("read_only is not true");
    if (!service.mem_limit && !service.deploy?.resources?.limits?.memory) errors.push("no memory limit (mem_limit)");
    if (service.network_mode === "host") errors.push("network_mode host");
    const networks = Array.isArray(service.networks) ? service.networks : Object.keys(service.networks ?? {});
    if (networks.length === 0 || networks.includes("default")) errors.push("on the default network: name the networks it needs");
    for (const port of service.ports ?? []) {
      const text = typeof port === "string" ? port : `${port.host_ip ?? ""}:${port.published ?? ""}:${port.target}`;
      if (!text.startsWith("127.0.0.1:")) errors.push(`port ${text} is not published on 127.0.0.1 only`);
    }
    for (const [key, value] of Object.entries(service.environment ?? {})) {
      if (!["ACTIVATIONS_RABBITMQ", "ACTIVATIONS_POSTGRES"].includes(key) || typeof value !== "string") continue;
      const credential = credentialOf(value);
      const admins = key === "ACTIVATIONS_RABBITMQ" ? [doc.services.rabbitmq?.environment?.RABBITMQ_ADMIN_USER, "guest"] : [doc.services.postgres?.environment?.POSTGRES_USER, "postgres"];
      if (credential && admins.includes(credential.user)) errors.push(`${key} uses the ${key === "ACTIVATIONS_RABBITMQ" ? "broker's administrator" : "database superuser"} '${credential.user}'`);
    }
    results.push({ label: `compose service ${name} `, errors });
  }
  return results;
}

export async function validate(yamlText) {
  const objects = [];
  const problems = [];
  for (const doc of parseAllDocuments(yamlText)) {
    if (doc.errors.length) {
      problems.push(...doc.errors.map((e) => `YAML: ${e.message}`));
      continue;
    }
    const obj = doc.toJS();
    if (obj != null) objects.push(obj);
  }
  const index = new Map(objects.map((o) => [`${o.kind}/${o.metadata?.namespace ?? ""}/${o.metadata?.name}`, o]));
  if (index.size !== objects.length) problems.push("two rendered objects share a kind, namespace and name");
  problems.push(...crossObjectErrors(objects, index));
  const results = [];
  for (const obj of objects) {
    const label = `${obj.apiVersion} ${obj.kind} ${obj.metadata?.namespace ? obj.metadata.namespace + "/" : ""}${obj.metadata?.name}`;
    results.push({ label, errors: [...(await schemaErrors(obj)), ...structuralErrors(obj, index)] });
  }
  return { problems, results };
}

async function selfTest() {
  const broken = `
apiVersion: apps/v1
kind: Deployment
metadata: {name: w, namespace: n}
spec:
  selector: {matchLabels: {app: w}}
  template:
    metadata: {labels: {app: other}}
    spec:
      containers:
        - name: c
          image: worker:latest
          ports: [{name: health, containerPort: "8080"}]
          readinessProbe: {httpGet: {path: /health/ready, port: nope}}
          env: [{name: X, valueFrom: {secretKeyRef: {name: missing, key: k}}}]
---
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata: {name: s, namespace: n}
spec:
  scaleTargetRef: {name: absent}
  minReplicaCount: "zero"
  triggers:
    - type: rabbitmq
      metadata: {queueName: "q", useRegex: "true", protocol: amqp, value: 5}
---
apiVersion: example.com/v1
kind: Unknown
metadata: {name: u, namespace: n}
`;
  const insecure = `
apiVersion: apps/v1
kind: Deployment
metadata: {name: bare, namespace: open}
spec:
  selector: {matchLabels: {app: bare}}
  template:
    metadata: {labels: {app: bare}}
    spec:
      hostNetwork: true
      securityContext: {runAsUser: 0}
      volumes: [{name: host, hostPath: {path: /}}]
      containers:
        - name: c
          image: app:1.0
          securityContext: {privileged: true, allowPrivilegeEscalation: true, capabilities: {add: [NET_ADMIN]}}
          resources: {requests: {cpu: "1"}}
          volumeMounts: [{name: host, mountPath: /host}]
---
apiVersion: v1
kind: Secret
metadata: {name: placeholders, namespace: open}
stringData:
  RABBITMQ_ADMIN_USER: admin
  RABBITMQ_ADMIN_PASSWORD: change-me
  POSTGRES_USER: postgres
  POSTGRES_PASSWORD: ""
  EMPTY_URL: "amqp://worker:@rabbitmq:5672/"
  EMPTY_NPGSQL: "Host=db;Username=app;Password=;Database=x"
---
apiVersion: v1
kind: Secret
metadata: {name: apps, namespace: open}
stringData:
  ACTIVATIONS_RABBITMQ: "amqp://admin:s3cret@rabbitmq:5672/"
  ACTIVATIONS_POSTGRES: "Host=db;Username=postgres;Password=s3cret;Database=x"
  host: "http://admin:s3cret@rabbitmq:15672/"
---
apiVersion: batch/v1
kind: Job
metadata: {name: coordinator, namespace: open}
spec:
  template:
    spec:
      restartPolicy: Never
      automountServiceAccountToken: false
      securityContext: {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}
      containers:
        - name: c
          image: app:1.0
          envFrom: [{secretRef: {name: apps}}]
          securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
          resources: {requests: {cpu: "1", memory: 1Gi}, limits: {cpu: "1", memory: 1Gi}}
---
apiVersion: batch/v1
kind: Job
metadata: {name: worker, namespace: open}
spec:
  template:
    spec:
      restartPolicy: Never
      automountServiceAccountToken: false
      securityContext: {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}
      containers:
        - name: c
          image: app:1.0
          env: [{name: ACTIVATIONS_RABBITMQ, valueFrom: {secretKeyRef: {name: apps, key: ACTIVATIONS_RABBITMQ}}}]
          securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
          resources: {requests: {cpu: "1", memory: 1Gi}, limits: {cpu: "1", memory: 1Gi}}
---
apiVersion: keda.sh/v1alpha1
kind: TriggerAuthentication
metadata: {name: keda, namespace: open}
spec:
  secretTargetRef: [{parameter: host, name: apps, key: host}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: wide, namespace: open}
spec:
  podSelector: {matchLabels: {app: bare}}
  policyTypes: [Ingress, Egress]
  ingress:
    - ports: [{port: 5672}]
  egress:
    - to: [{ipBlock: {cidr: 0.0.0.0/0}}]
    - to: [{namespaceSelector: {}}]
`;
  const { results } = await validate(broken);
  const secure = await validate(insecure);
  const all = [...results, ...secure.results, { label: " (cross-object) ", errors: secure.problems }];
  const expected = [
    ["Deployment", "containerPort must be integer"],
    ["Deployment", "does not match the pod template"],
    ["Deployment", "is not pinned"],
    ["Deployment", "is not a named container port"],
    ["Deployment", "no Secret missing"],
    ["ScaledObject", "minReplicaCount must be integer"],
    ["ScaledObject", "no Deployment absent"],
    ["ScaledObject", "useRegex needs protocol http"],
    ["ScaledObject", "metadata.value must be a string"],
    ["Unknown", "no schema"],
    // Pods: each hardening rule.
    ["Deployment", "automountServiceAccountToken is not false"],
    ["Deployment", "hostNetwork is true"],
    ["Deployment", "volume host is a hostPath"],
    ["Deployment", "seccompProfile is not RuntimeDefault"],
    ["Deployment", "runAsNonRoot is not true"],
    ["Deployment", "runAsUser is 0"],
    ["Deployment", "allowPrivilegeEscalation is not false"],
    ["Deployment", "container c: privileged"],
    ["Deployment", "capabilities do not drop ALL"],
    ["Deployment", "adds capabilities NET_ADMIN"],
    ["Deployment", "readOnlyRootFilesystem is not true"],
    ["Deployment", "no memory in resources.requests"],
    ["Deployment", "no cpu in resources.limits"],
    // Secrets: placeholders and empty passwords, plain, in a URL and in an Npgsql string.
    ["Secret", "RABBITMQ_ADMIN_PASSWORD holds a placeholder value (change-me)"],
    ["Secret", "POSTGRES_PASSWORD is an empty password"],
    ["Secret", "EMPTY_URL holds an empty password (user 'worker')"],
    ["Secret", "EMPTY_NPGSQL holds an empty password (user 'app')"],
    // Networks and credentials.
    ["NetworkPolicy", "ingress[0]: open to every peer"],
    ["NetworkPolicy", "does not except the private ranges"],
    ["NetworkPolicy", "a peer selects every namespace"],
    ["(cross-object)", "namespace open: no default-deny NetworkPolicy"],
    ["(cross-object)", "ACTIVATIONS_RABBITMQ uses the broker's administrator 'admin'"],
    ["(cross-object)", "ACTIVATIONS_POSTGRES uses the database superuser 'postgres'"],
    ["(cross-object)", "broker user 'admin' is shared by coordinator, worker"],
    ["(cross-object)", "KEDA uses the broker's administrator 'admin'"],
  ];
  let failed = 0;
  for (const [kind, text] of expected) {
    const hit = all.some((r) => r.label.includes(` ${kind} `) && r.errors.some((e) => e.includes(text)));
    if (!hit) {
      failed++;
      console.error(`self-test: expected a ${kind} error containing '${text}'`);
    }
  }
  const compose = validateCompose(`
services:
  rabbitmq:
    environment: {RABBITMQ_ADMIN_USER: admin}
    ports: ["5672:5672"]
  postgres:
    environment: {POSTGRES_USER: postgres}
    read_only: true
    network_mode: host
  coordinator:
    cap_add: [SYS_ADMIN]
    environment: {ACTIVATIONS_RABBITMQ: "amqp://admin:x@rabbitmq:5672/", ACTIVATIONS_POSTGRES: "Host=postgres;Username=postgres;Password=x"}
`);
  for (const [name, text] of [
    ["rabbitmq", "no security_opt no-new-privileges"], ["rabbitmq", "cap_drop does not hold ALL"], ["rabbitmq", "read_only is not true"],
    ["rabbitmq", "no memory limit"], ["rabbitmq", "on the default network"], ["rabbitmq", "is not published on 127.0.0.1 only"],
    ["postgres", "network_mode host"], ["coordinator", "cap_add SYS_ADMIN"],
    ["coordinator", "ACTIVATIONS_RABBITMQ uses the broker's administrator 'admin'"], ["coordinator", "ACTIVATIONS_POSTGRES uses the database superuser 'postgres'"],
  ]) {
    expected.push([`service ${name}`, text]);
    if (!compose.some((r) => r.label === `compose service ${name} ` && r.errors.some((e) => e.includes(text)))) {
      failed++;
      console.error(`self-test: expected compose service ${name} error containing '${text}'`);
    }
  }
  // The base as committed renders no usable password: validated alone, its Secrets fail.
  let baseChecked = "";
  try {
    const base = execFileSync("kubectl", ["kustomize", join(here, "k8s", "base")], { encoding: "utf8", maxBuffer: 64 << 20 });
    const rendered = await validate(base);
    const secrets = rendered.results.filter((r) => r.label.includes(" Secret "));
    const unusable = secrets.filter((r) => r.errors.some((e) => e.includes("empty password") || e.includes("placeholder")));
    if (secrets.length === 0 || unusable.length !== secrets.length) {
      failed++;
      console.error(`self-test: every Secret the base renders must be refused (${unusable.length} of ${secrets.length} were)`);
    }
    baseChecked = `, base: ${unusable.length} of ${secrets.length} Secrets refused`;
  } catch (e) {
    if (e.code !== "ENOENT") throw e;
    baseChecked = " (kubectl not found: the base's Secrets were not rendered)";
  }
  console.log(failed ? `self-test FAILED (${failed})` : `self-test ok: ${expected.length} expected errors reported${baseChecked}`);
  return failed ? 1 : 0;
}

async function main(argv) {
  if (argv[0] === "--self-test") return selfTest();
  if (argv[0] === "--compose") {
    const results = validateCompose(readFileSync(argv[1] === "-" || !argv[1] ? 0 : argv[1], "utf8"));
    let errors = 0;
    for (const r of results) {
      if (r.errors.length === 0) console.log(`ok     ${r.label.trim()}`);
      for (const e of r.errors) {
        errors++;
        console.error(`error  ${r.label.trim()}: ${e}`);
      }
    }
    console.log(`${results.length} compose services, ${errors} error(s)`);
    return results.length === 0 ? 1 : errors ? 1 : 0;
  }
  let text;
  if (argv[0] === "-") text = readFileSync(0, "utf8");
  else if (argv[0]) text = readFileSync(argv[0], "utf8");
  else text = execFileSync("kubectl", ["kustomize", join(here, "k8s")], { encoding: "utf8", maxBuffer: 64 << 20 });
  const { problems, results } = await validate(text);
  let errors = problems.length;
  for (const p of problems) console.error(`error: ${p}`);
  for (const r of results) {
    if (r.errors.length === 0) console.log(`ok     ${r.label}`);
    for (const e of r.errors) {
      errors++;
      console.error(`error  ${r.label}: ${e}`);
    }
  }
  console.log(`${results.length} objects, ${errors} error(s)`);
  if (results.length === 0) {
    console.error("error: nothing to validate");
    return 1;
  }
  return errors ? 1 : 0;
}

process.exitCode = await main(process.argv.slice(2));
