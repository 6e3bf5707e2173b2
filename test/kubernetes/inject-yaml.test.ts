import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { parseAllDocuments } from 'yaml';
import { injectYaml } from '../../src/cli/commands/inject.js';
import { injectObject, type KubeObject } from '../../src/kubernetes/inject.js';
import { cli } from '../helpers/cli.js';
import { tempDir } from '../helpers/sidecar.js';

const IMAGE = 'registry.local/faultline:test';

// Unusual on purpose: a header comment, 4-space indents, flow maps, quoting styles, a document
// end marker, comments everywhere, an empty document.
const SERVICE = `# Shop manifests: edited by hand, applied by Argo CD.
# Do not reformat.

apiVersion: v1
kind: Service
metadata:
    name: checkout   # the public name
    labels: { app: checkout,   tier: "web" }
spec:
    ports:
        -   port: 80
            targetPort: 'http'
...
`;
const CONFIGMAP = `---
# the policy, as the sidecar reads it
apiVersion: v1
kind: ConfigMap
metadata: {name: faultline-policy}
data:
  policy.yaml: |
    apiVersion: faultline.dev/v1alpha1
    kind: FaultPolicy
---
`;
const PLAIN = `--- # a Deployment that does not ask for the sidecar
apiVersion: apps/v1
kind: Deployment
metadata:
  name: plain
spec:
  replicas: 02          # written as the author wrote it
  selector: {matchLabels: {app: plain}}
  template:
    metadata:
      labels: {app: plain}
      annotations:
        faultline.dev/inject: "false"
    spec:
      containers: [{name: plain, image: "nginx:1.27"}]
`;
const ASKS = `---
# checkout: gets the sidecar
apiVersion: apps/v1
kind: Deployment
metadata:
  name: checkout
  namespace: shop
spec:
  selector:
    matchLabels: {app: checkout}
  template:
    metadata:
      labels:
        app: checkout   # matched by the Service
      annotations:
        faultline.dev/inject: "true"
    spec:
      containers:
        # the app itself
        - name: app
          image: "shop/checkout:1.4"   # pinned
          ports: [{containerPort: 8080}]
`;

t.test('inject: documents it does not change come out byte for byte, comments and formatting kept', async (t) => {
  const text = SERVICE + CONFIGMAP + PLAIN + ASKS;
  const warnings: string[] = [];
  const out = injectYaml(text, IMAGE, warnings);
  t.ok(out.startsWith(SERVICE + CONFIGMAP + PLAIN), 'the header comment and every untouched document, byte for byte');
  const injected = out.slice((SERVICE + CONFIGMAP + PLAIN).length);
  for (const kept of ['# checkout: gets the sidecar', '# matched by the Service', '# the app itself', '"shop/checkout:1.4" # pinned']) t.ok(injected.includes(kept), `the changed document keeps ${kept}`);
  const [expected] = [injectObject(parseAllDocuments(ASKS)[0]?.toJS() as KubeObject, { image: IMAGE }).object];
  t.same(parseAllDocuments(injected)[0]?.toJS(), expected, 'and is exactly what injection makes of it');
  t.same(warnings, []);
  t.equal(injectYaml(out, IMAGE), out, 'injecting the output again changes nothing, byte for byte');
  t.equal(injectYaml(SERVICE + CONFIGMAP + PLAIN, IMAGE), SERVICE + CONFIGMAP + PLAIN, 'a file with nothing to inject is returned as it is');
  t.equal(injectYaml('', IMAGE), '');
});

t.test('inject: a List is edited item by item, in place', async (t) => {
  const list = `apiVersion: v1
kind: List
items:
  - ${JSON.stringify(parseAllDocuments(ASKS)[0]?.toJS())}
  # the config, untouched
  - {apiVersion: v1, kind: ConfigMap, metadata: {name: c}}
`;
  const out = injectYaml(list, IMAGE);
  t.match(out, /# the config, untouched\n {2}- \{ apiVersion: v1, kind: ConfigMap, metadata: \{ name: c \} \}\n$/);
  const items = (parseAllDocuments(out)[0]?.toJS() as { items: KubeObject[] }).items;
  t.same(items[0], injectObject(items[0] as KubeObject, { image: IMAGE }).object, 'the item is injected (and injecting it again changes nothing)');
});

t.test('inject: values faultline refuses, naming the object and the annotation (exit 1)', async (t) => {
  const dir = tempDir(t);
  const cases: [string, string, RegExp][] = [
    ['yes', 'faultline.dev/inject: "yes"', /^faultline: Deployment shop\/checkout: annotation faultline\.dev\/inject: "yes" must be "true" or "false"\n$/],
    ['unquoted boolean', 'faultline.dev/inject: true', /^faultline: Deployment shop\/checkout: annotation faultline\.dev\/inject: "true" is a YAML boolean, not a string: quote it \(faultline\.dev\/inject: "true"\)\n$/],
    ['unquoted number', 'faultline.dev/inject: "true"\n        faultline.dev/exclude-outbound-ports: 5432', /annotation faultline\.dev\/exclude-outbound-ports: "5432" is a YAML number, not a string: quote it/],
    ['null', 'faultline.dev/inject: "true"\n        faultline.dev/policy: ~', /annotation faultline\.dev\/policy: "null" is a YAML null, not a string/],
    ['list', 'faultline.dev/inject: "true"\n        faultline.dev/exclude-outbound-ports: [80, 443]', /annotation faultline\.dev\/exclude-outbound-ports: "80,443" is a YAML list, not a string/],
    ['map', 'faultline.dev/inject: {on: yes}', /annotation faultline\.dev\/inject: .* is a YAML map, not a string/],
  ];
  for (const [name, annotation, message] of cases) {
    const file = join(dir, `${name.replace(/ /g, '-')}.yaml`);
    writeFileSync(file, ASKS.replace('faultline.dev/inject: "true"', annotation));
    const result = await cli(['inject', '-f', file]);
    t.equal(result.code, 1, name);
    t.match(result.stderr, message, name);
    t.equal(result.stdout, '', `${name}: nothing half-written for kubectl apply`);
  }
});

t.test('inject: every warning names its object', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'typo.yaml');
  writeFileSync(file, ASKS.replace('faultline.dev/inject: "true"', 'faultline.dev/inject: "true"\n        faultline.dev/polcy: other'));
  const result = await cli(['inject', '-f', file]);
  t.equal(result.code, 0);
  t.match(result.stderr, /^faultline: Deployment shop\/checkout: unknown annotation faultline\.dev\/polcy ignored \(known: /);
});
