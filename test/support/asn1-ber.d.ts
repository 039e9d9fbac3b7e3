/** The part of `asn1-ber` (no bundled types) that the test SNMP agent uses. */
declare module 'asn1-ber' {
  class Reader {
    constructor(data: Buffer);
    readonly offset: number;
    readonly length: number;
    readByte(peek?: boolean): number | null;
    peek(): number | null;
    readSequence(tag?: number): number | null;
    readInt(tag?: number): number | null;
    readString(tag?: number, retbuf?: boolean): string | Buffer | null;
    readOID(tag?: number): string | null;
  }
  class Writer {
    constructor();
    readonly buffer: Buffer;
    writeByte(b: number): void;
    writeInt(i: number, tag?: number): void;
    writeBuffer(buf: Buffer, tag: number): void;
    writeOID(s: string, tag?: number): void;
    startSequence(tag?: number): void;
    endSequence(): void;
  }
  export const Ber: { Reader: typeof Reader; Writer: typeof Writer; OctetString: number; Integer: number };
}
