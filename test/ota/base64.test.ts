// sdk/ota/base64: strict padded base64, against Node's own encoder on random bytes.
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { base64Decode } from "../../sdk/ota/base64.ts";

test("base64Decode: every length 1..300 of random bytes round-trips Node's encoding", () => {
  for (let n = 1; n <= 300; n++) {
    const bytes = randomBytes(n);
    assert.deepEqual(base64Decode(bytes.toString("base64"), n), new Uint8Array(bytes), `length ${n}`);
  }
});

test("base64Decode: refuses what is not strict padded base64, and what is longer than the limit", () => {
  // QUJ= and QR== are not canonical: bits set past the last byte (QUI= and QQ== are).
  for (const bad of ["", "A", "AB=", "AB=C", "A===", "QUJD QUJD", "QUJD\n", "QU-D", "QU_D", "QUJDé===", "====", "QUJD=", "Q\u0100JD", "QUJ=", "QR=="]) {
    assert.equal(base64Decode(bad, 100), undefined, JSON.stringify(bad));
  }
  assert.equal(base64Decode(Buffer.from("hello").toString("base64"), 4), undefined);
  assert.deepEqual(base64Decode(Buffer.from("hello").toString("base64"), 5), new Uint8Array(Buffer.from("hello")));
});
