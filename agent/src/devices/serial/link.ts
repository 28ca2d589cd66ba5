/** The line settings one open port runs at. */
export interface LineSettings {
  baudRate: number;
  dataBits: 7 | 8;
  parity: 'none' | 'even' | 'odd';
  stopBits: 1 | 2;
}

/**
 * One open serial device, as the port logic needs it. The real one is
 * `serialport`; tests of the sharing logic can drive a fake.
 */
export interface SerialLink {
  /** Resolves when the bytes have been handed to the OS and drained (tcdrain). */
  write(data: Uint8Array): Promise<void>;
  /**
   * Discards what the OS has received but nobody has read yet. serialport's
   * flush is tcflush(TCIOFLUSH), which also drops unsent output; there is
   * none, because write() drains.
   */
  flushInput(): Promise<void>;
  close(): Promise<void>;
  onData(listener: (chunk: Uint8Array) => void): void;
  /** The device went away without close() being called (unplugged, pty peer gone...). */
  onLost(listener: (error: Error) => void): void;
}

export type OpenSerialLink = (path: string, settings: LineSettings) => Promise<SerialLink>;

/** A SerialLink over the `serialport` package. */
export const openSerialPortLink: OpenSerialLink = async (path, settings) => {
  // Loaded on first use: the native binding and its stream stack cost ~15 MB of RSS an agent without serial apps never needs.
  const { SerialPort } = await import('serialport');
  return new Promise((resolve, reject) => {
    const port = new SerialPort({
      path,
      baudRate: settings.baudRate,
      dataBits: settings.dataBits,
      parity: settings.parity,
      stopBits: settings.stopBits,
      autoOpen: false,
    });
    port.open((err) => {
      if (err) {
        reject(err);
        return;
      }
      let closing = false;
      const lostListeners: Array<(e: Error) => void> = [];
      // serialport emits 'error' for read/write failures; the port closes after them.
      port.on('error', () => {});
      port.on('close', (err: Error | null) => {
        if (closing) return;
        const error = err ?? new Error('the port closed');
        for (const l of lostListeners) l(error);
      });
      resolve({
        write: (data) =>
          new Promise((res, rej) => {
            port.write(Buffer.from(data.buffer, data.byteOffset, data.byteLength), (e) => {
              if (e) rej(e);
              else port.drain((d) => (d ? rej(d) : res()));
            });
          }),
        flushInput: () => new Promise((res, rej) => port.flush((e) => (e ? rej(e) : res()))),
        close: () =>
          new Promise((res) => {
            closing = true;
            if (!port.isOpen) res();
            else port.close(() => res());
          }),
        onData: (listener) => port.on('data', (chunk: Buffer) => listener(chunk)),
        onLost: (listener) => lostListeners.push(listener),
      });
    });
  });
};
