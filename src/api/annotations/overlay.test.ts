import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatOverlayAnnotations, OVERLAY_BACKEND_DATA_ANNOTATION, OVERLAY_PUBLIC_IPV6_ANNOTATION, parseOverlayAnnotations } from './overlay.ts';

test('vxlan and host-gw backends round-trip through the Node annotations', () => {
  const vx = { type: 'vxlan' as const, publicIP: '192.168.1.2', vtepMAC: '0a:11:22:33:44:55', vni: 1 };
  const a = formatOverlayAnnotations(vx);
  assert.equal(a[OVERLAY_BACKEND_DATA_ANNOTATION], '{"vni":1,"vtepMAC":"0a:11:22:33:44:55"}');
  assert.deepEqual(parseOverlayAnnotations(a), vx);
  assert.deepEqual(parseOverlayAnnotations(formatOverlayAnnotations({ type: 'host-gw', publicIP: '10.0.0.9' })), { type: 'host-gw', publicIP: '10.0.0.9' });
  const dual = { type: 'host-gw' as const, publicIP: '10.0.0.9', publicIPv6: '2001:db8::9' };
  assert.equal(formatOverlayAnnotations(dual)[OVERLAY_PUBLIC_IPV6_ANNOTATION], '2001:db8::9');
  assert.deepEqual(parseOverlayAnnotations(formatOverlayAnnotations(dual)), dual);
  // a malformed IPv6 next hop is no IPv6 route, the IPv4 one stands
  assert.deepEqual(parseOverlayAnnotations({ ...formatOverlayAnnotations(dual), [OVERLAY_PUBLIC_IPV6_ANNOTATION]: '10.0.0.9' }), { type: 'host-gw', publicIP: '10.0.0.9' });
});

test('missing or malformed annotations are no backend', () => {
  const ok = formatOverlayAnnotations({ type: 'vxlan', publicIP: '192.168.1.2', vtepMAC: '0a:11:22:33:44:55', vni: 1 });
  for (const bad of [
    undefined,
    {},
    { ...ok, 'hedge.io/overlay-public-ip': '300.1.1.1' },
    { ...ok, 'hedge.io/overlay-backend-type': 'udp' },
    { ...ok, [OVERLAY_BACKEND_DATA_ANNOTATION]: '{"vni":1,"vtepMAC":"zz"}' },
    { ...ok, [OVERLAY_BACKEND_DATA_ANNOTATION]: 'not json' },
    { ...ok, [OVERLAY_BACKEND_DATA_ANNOTATION]: '{"vtepMAC":"0a:11:22:33:44:55"}' },
  ]) {
    assert.equal(parseOverlayAnnotations(bad), undefined, JSON.stringify(bad));
  }
});
