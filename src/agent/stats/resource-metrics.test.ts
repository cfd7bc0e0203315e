import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatGoFloat, renderResourceMetrics } from './resource-metrics.ts';

describe('resource metrics text', () => {
  it('formats numbers as Go strconv.FormatFloat(v, g, -1, 64)', () => {
    const cases: [number, string][] = [
      [0, '0'],
      [2, '2'],
      [357.35491, '357.35491'],
      [13152256, '1.3152256e+07'],
      [1616273408, '1.616273408e+09'],
      [123456, '123456'],
      [1234567, '1.234567e+06'],
      [1e21, '1e+21'],
      [0.0001, '0.0001'],
      [0.00001, '1e-05'],
      [-2.5e-7, '-2.5e-07'],
    ];
    for (const [v, want] of cases) assert.equal(formatGoFloat(v), want, String(v));
  });

  it('reports scrape_error 1 without figures when the node could not be read', () => {
    const { body } = renderResourceMetrics({ nodeName: 'n', node: { timestamp: new Date(0), startTime: new Date(0) }, pods: [] });
    assert.match(body, /^scrape_error 1$/m);
    assert.match(body, /^resource_scrape_error 1$/m);
    assert.doesNotMatch(body, /node_cpu_usage_seconds_total \d/);
  });
});
