// Reads what tcpdump -w wrote (classic pcap, Ethernet, IPv4/TCP): the TCP
// payloads of one stream, enough to tell a TLS handshake from QEMU's plain
// migration stream.
import { readFileSync } from 'node:fs';

export interface TcpSegment {
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
  /** The captured part of the payload (up to the snap length). */
  payload: Buffer;
}

const LINKTYPE_ETHERNET = 1;

export function readTcpSegments(path: string): TcpSegment[] {
  const file = readFileSync(path);
  if (file.length < 24) return [];
  const magic = file.readUInt32LE(0);
  const little = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d;
  if (!little && file.readUInt32BE(0) !== 0xa1b2c3d4 && file.readUInt32BE(0) !== 0xa1b23c4d) {
    throw new Error(`${path} is not a pcap file (magic ${magic.toString(16)})`);
  }
  const u32 = (offset: number) => (little ? file.readUInt32LE(offset) : file.readUInt32BE(offset));
  if (u32(20) !== LINKTYPE_ETHERNET) throw new Error(`${path}: link type ${u32(20)}, expected Ethernet`);
  const segments: TcpSegment[] = [];
  for (let offset = 24; offset + 16 <= file.length; ) {
    const captured = u32(offset + 8);
    const frame = file.subarray(offset + 16, offset + 16 + captured);
    offset += 16 + captured;
    const segment = parseFrame(frame);
    if (segment) segments.push(segment);
  }
  return segments;
}

function parseFrame(frame: Buffer): TcpSegment | undefined {
  if (frame.length < 14 + 20 || frame.readUInt16BE(12) !== 0x0800) return undefined; // IPv4 only
  const ip = frame.subarray(14);
  const ihl = (ip[0]! & 0x0f) * 4;
  if (ip[9] !== 6 || ip.length < ihl + 20) return undefined; // TCP only
  const totalLength = ip.readUInt16BE(2);
  const tcp = ip.subarray(ihl);
  const dataOffset = (tcp[12]! >> 4) * 4;
  const payloadLength = Math.max(0, totalLength - ihl - dataOffset);
  return {
    src: [...ip.subarray(12, 16)].join('.'),
    dst: [...ip.subarray(16, 20)].join('.'),
    srcPort: tcp.readUInt16BE(0),
    dstPort: tcp.readUInt16BE(2),
    payload: tcp.subarray(dataOffset, dataOffset + payloadLength),
  };
}
