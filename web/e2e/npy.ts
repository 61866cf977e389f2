/** The little of NumPy's .npy format the tests exchange with Python: float32, C order. */

import { readFileSync, writeFileSync } from 'node:fs';

export function writeNpy(path: string, data: Float32Array, shape: number[]): void {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  const unpadded = 10 + header.length + 1; // magic, version, length, header, newline
  header += ' '.repeat((64 - (unpadded % 64)) % 64) + '\n';
  const prefix = Buffer.alloc(10);
  prefix.write('\x93NUMPY', 0, 'latin1');
  prefix.writeUInt8(1, 6);
  prefix.writeUInt8(0, 7);
  prefix.writeUInt16LE(header.length, 8);
  writeFileSync(
    path,
    Buffer.concat([prefix, Buffer.from(header, 'latin1'), Buffer.from(data.buffer, data.byteOffset, data.byteLength)]),
  );
}

export function readNpy(path: string): { data: Float32Array; shape: number[] } {
  const file = readFileSync(path);
  if (file.toString('latin1', 0, 6) !== '\x93NUMPY') throw new Error(`${path} is not a .npy file`);
  const major = file.readUInt8(6);
  const headerLength = major === 1 ? file.readUInt16LE(8) : file.readUInt32LE(8);
  const start = major === 1 ? 10 : 12;
  const header = file.toString('latin1', start, start + headerLength);
  if (!header.includes("'descr': '<f4'") || header.includes("'fortran_order': True")) {
    throw new Error(`${path}: expected little-endian float32 in C order, got ${header.trim()}`);
  }
  const shape = [...(header.match(/'shape': \(([^)]*)\)/)?.[1] ?? '').matchAll(/\d+/g)].map(Number);
  const body = file.subarray(start + headerLength);
  return { data: new Float32Array(body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength)), shape };
}
