import t from 'tap';
import { ANNOTATIONS } from '../../src/kubernetes/annotations.js';
import { DEFAULT_IMAGE, type Container } from '../../src/kubernetes/builders.js';
import { injectObject, podTemplateOf, type KubeObject } from '../../src/kubernetes/inject.js';
import { validateObject } from '../helpers/kubernetes.js';

const pod = (annotations: Record<string, string>): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'shop', namespace: 'shop', annotations: { [ANNOTATIONS.inject]: 'true', ...annotations } },
  spec: { containers: [{ name: 'app', image: 'shop:1' }] },
});

t.test('faultline.dev/tls-ca-secret mounts the Secret\'s tls.crt and tls.key into the sidecar only, and passes them as --tls-ca-cert/--tls-ca-key', async (t) => {
  const { object } = injectObject(pod({ [ANNOTATIONS.tlsCaSecret]: 'shop-tls-ca' }), { image: DEFAULT_IMAGE });
  t.doesNotThrow(() => validateObject(object));
  const spec = podTemplateOf(object)?.spec as { containers: Container[]; volumes: { name: string; secret?: unknown }[] };
  const [app, sidecar] = spec.containers as [Container, Container];
  t.same(sidecar.args?.slice(-4), ['--tls-ca-cert', '/var/run/faultline/tls-ca/tls.crt', '--tls-ca-key', '/var/run/faultline/tls-ca/tls.key']);
  t.same(sidecar.volumeMounts?.at(-1), { name: 'faultline-tls-ca', mountPath: '/var/run/faultline/tls-ca', readOnly: true });
  t.same(spec.volumes.find((v) => v.name === 'faultline-tls-ca'), {
    name: 'faultline-tls-ca',
    secret: { secretName: 'shop-tls-ca', optional: true, items: [{ key: 'tls.crt', path: 'tls.crt' }, { key: 'tls.key', path: 'tls.key' }] },
  }, 'optional: a pod never waits for the Secret');
  t.notOk(app.volumeMounts?.some((m) => m.name === 'faultline-tls-ca'), 'the app container never sees the key');

  const plain = injectObject(pod({}), { image: DEFAULT_IMAGE }).object;
  const plainSpec = podTemplateOf(plain)?.spec as { containers: Container[]; volumes: { name: string }[] };
  t.notOk(plainSpec.containers[1]?.args?.includes('--tls-ca-cert'), 'without the annotation: no TLS flag');
  t.notOk(plainSpec.volumes.some((v) => v.name === 'faultline-tls-ca'));
  t.throws(() => injectObject(pod({ [ANNOTATIONS.tlsCaSecret]: '../etc' }), { image: DEFAULT_IMAGE }), { code: 'FL_ERR_ANNOTATION' });
});
