import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HedgeError, type ErrorCode } from '../../lib/errors.ts';
import { errorFromStatus, failureMessage, statusFromError } from './status.ts';

const codes: ErrorCode[] = [
  'NotFound', 'AlreadyExists', 'Conflict', 'Invalid', 'BadRequest', 'Gone', 'Unauthorized', 'Forbidden', 'MethodNotAllowed',
  'NotAcceptable', 'UnsupportedMediaType', 'RequestEntityTooLarge', 'Timeout', 'TooManyRequests', 'Unavailable', 'Internal',
];

describe('Status', () => {
  it('reads back every error the server writes as the same code, message and details', () => {
    for (const code of codes) {
      const sent = new HedgeError(code, `m-${code}`, { details: { kind: 'pods', name: 'p', causes: [{ field: 'spec.x', reason: 'FieldValueInvalid', message: 'bad' }] } });
      const status = statusFromError(sent);
      const back = errorFromStatus(status.code, JSON.parse(JSON.stringify(status)));
      assert.equal(back.code, code);
      assert.equal(back.message, `m-${code}`);
      assert.equal(back.details.name, 'p');
      assert.deepEqual(back.details.causes, [{ field: 'spec.x', reason: 'FieldValueInvalid', message: 'bad' }]);
    }
  });

  it('uses upstream reasons and codes', () => {
    assert.deepEqual(
      [statusFromError(new HedgeError('Gone', 'x')).reason, statusFromError(new HedgeError('Gone', 'x')).code],
      ['Expired', 410],
    );
    assert.equal(statusFromError(new HedgeError('Unavailable', 'x')).reason, 'ServiceUnavailable');
    const internal = statusFromError(new Error('boom'));
    assert.deepEqual([internal.reason, internal.code, internal.message], ['InternalError', 500, 'Internal error occurred: boom']);
  });

  it('maps reasons other servers send, bare HTTP codes and non-Status bodies', () => {
    assert.equal(errorFromStatus(410, { kind: 'Status', reason: 'Gone' }).code, 'Gone');
    assert.equal(errorFromStatus(504, { kind: 'Status', reason: 'ServerTimeout' }).code, 'Timeout');
    assert.equal(errorFromStatus(409, {}).code, 'Conflict');
    assert.equal(errorFromStatus(409, { kind: 'Status', reason: 'AlreadyExists' }).code, 'AlreadyExists');
    assert.equal(errorFromStatus(502, 'bad gateway').code, 'Internal');
    assert.equal(errorFromStatus(502, 'bad gateway').message, 'bad gateway');
    assert.equal(errorFromStatus(418, undefined).code, 'BadRequest');
    // a reason that names an Object.prototype member is just an unknown reason
    assert.equal(errorFromStatus(404, { kind: 'Status', reason: 'constructor' }).code, 'NotFound');
  });

  it("reads a failure body's message: a Status's, else the text", () => {
    assert.equal(failureMessage(JSON.stringify(statusFromError(new HedgeError('Forbidden', 'Forbidden (user=u)')))), 'Forbidden (user=u)');
    assert.equal(failureMessage(' container "c" not found\n'), 'container "c" not found');
    assert.equal(failureMessage('{"kind":"Pod"}'), '{"kind":"Pod"}');
    assert.equal(failureMessage('{not json'), '{not json');
    assert.equal(failureMessage(''), '');
  });
});
