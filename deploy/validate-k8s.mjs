#!/usr/bin/env node
// Validates every object that `kubectl kustomize deploy/k8s` renders, offline:
//  1. against the Kubernetes OpenAPI schemas (npm kubernetes-models) and KEDA's CRD schemas
//     (@kubernetes-models/keda) — an object of a kind neither package knows is an error;
//  2. with structural checks the schemas cannot make: names, namespaces, selectors that match their pod
//     labels, probe ports that exist, and references (Secrets, ConfigMaps, PVCs, Services, the KEDA
//     target and authentication) that resolve to rendered objects.
//
//   npm ci --prefix deploy && node deploy/validate-k8s.mjs            (renders deploy/k8s with kubectl)
//   node deploy/validate-k8s.mjs rendered.yaml                          (or a file; - for stdin)
//   node deploy/validate-k8s.mjs --self-test                            (checks that broken objects fail)
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
    default:
      return undefined;
  }
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
  const { results } = await validate(broken);
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
  ];
  let failed = 0;
  for (const [kind, text] of expected) {
    const hit = results.some((r) => r.label.includes(` ${kind} `) && r.errors.some((e) => e.includes(text)));
    if (!hit) {
      failed++;
      console.error(`self-test: expected a ${kind} error containing '${text}'`);
    }
  }
  console.log(failed ? `self-test FAILED (${failed})` : `self-test ok: ${expected.length} expected errors reported`);
  return failed ? 1 : 0;
}

async function main(argv) {
  if (argv[0] === "--self-test") return selfTest();
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
