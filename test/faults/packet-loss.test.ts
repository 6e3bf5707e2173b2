import t from 'tap';
import { PolicyError } from '../../src/errors.js';
import { packetLoss } from '../../src/faults/packet-loss.js';
import { compilePolicy } from '../../src/policy/compile.js';
import { policyText } from '../helpers/sidecar.js';

// In the kernel, in network namespaces: test/interception/packet-loss.test.ts.
const problems = (rules: string, kernelFaults?: boolean) => {
  try {
    compilePolicy(policyText({ listeners: ['{name: up, listen: "127.0.0.1:0", upstream: "127.0.0.1:1"}'], rules }), 'p.yaml', { kernelFaults });
    return [];
  } catch (err) {
    return (err as PolicyError).lines();
  }
};

t.test('packet_loss asks the kernel for drops; where it may go', async (t) => {
  t.same(packetLoss.kernel?.({ probability: 0.2 }), { dropProbability: 0.2 });
  const ok = '    - {name: r, match: {destinations: ["10.0.0.0/8"], ports: [5432]}, faults: [{type: packet_loss, probability: 0.2}]}';
  const policy = compilePolicy(policyText({ rules: ok }), 'p.yaml', { kernelFaults: true });
  t.match(policy.rules[0]?.faults[0], { probability: 1, options: { probability: 0.2 }, streams: ['upstream', 'downstream'] }, 'probability is the fault\'s own (per packet); both streams by default');
  t.same(problems(ok), [], 'faultline validate (mode unknown) takes it');
  t.match(problems(ok, false), [/p\.yaml:\d+:\d+: .*packet_loss needs on-demand interception \(faultline sidecar --interception on-demand, or the pod annotation faultline\.dev\/interception: on-demand\)/], 'a sidecar that is not on-demand refuses it');
  t.match(problems('    - {name: r, match: {listener: up}, faults: [{type: packet_loss, probability: 0.2}]}', true), [/packet_loss acts in the kernel on captured traffic: drop match\.listener/]);
  t.match(problems('    - {name: r, match: {protocol: http}, faults: [{type: packet_loss, probability: 0.2}]}', true), [/packet_loss acts on packets: put it in a rule without protocol\/http\/grpc\/sni/]);
  t.match(problems('    - {name: r, faults: [{type: packet_loss, probability: 0.2, after: 1s}]}', true), [/packet_loss acts in the kernel on every packet of its rule, so after\/for do not apply/]);
  t.match(problems('    - {name: r, faults: [{type: packet_loss, probability: 0.2, firstConnections: 3}]}', true), [/so firstConnections does not apply/]);
});
