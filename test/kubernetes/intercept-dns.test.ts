import t from 'tap';
import { ANNOTATIONS, readSettings } from '../../src/kubernetes/annotations.js';
import { initContainer, sidecarContainer } from '../../src/kubernetes/builders.js';

const options = { image: 'faultline:test' } as Parameters<typeof initContainer>[1];

t.test('faultline.dev/intercept-dns: "true" becomes --intercept-dns on the init container, and nothing else', async (t) => {
  const plain = readSettings({});
  const dns = readSettings({ [ANNOTATIONS.interceptDns]: 'true' });
  t.same(initContainer(dns, options).args, [...(initContainer(plain, options).args ?? []), '--intercept-dns']);
  t.same(sidecarContainer(dns, options).args, sidecarContainer(plain, options).args, 'the sidecar runs its DNS proxy with its capture listeners anyway');
  t.notOk(initContainer(readSettings({ [ANNOTATIONS.interceptDns]: 'false' }), options).args?.includes('--intercept-dns'));
});
