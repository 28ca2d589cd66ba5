import { SerialPort } from 'serialport';
import * as assert from 'uvu/assert';
import { hostSuite } from '../../helpers/host-tools.js';
import { type PtyPair, ptyPair } from '../../helpers/pty.js';
import { withTimeout } from '../../helpers/timeout.js';

const { test } = hostSuite<{ pty: PtyPair }>('harness: serialport over socat ptys', ['socat']);

test.before(async (ctx) => {
  ctx.pty = await ptyPair();
});
test.after(async (ctx) => {
  await ctx.pty?.stop();
});

function open(path: string): Promise<SerialPort> {
  return new Promise((resolve, reject) => {
    const port = new SerialPort({ path, baudRate: 9600, autoOpen: false });
    port.open((err) => (err ? reject(err) : resolve(port)));
  });
}

function readExactly(port: SerialPort, n: number): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let got = 0;
    const onData = (c: Buffer) => {
      chunks.push(c);
      got += c.length;
      if (got >= n) {
        port.off('data', onData);
        resolve(Buffer.concat(chunks));
      }
    };
    port.on('data', onData);
  });
}

function close(port: SerialPort): Promise<void> {
  return new Promise((resolve) => (port.isOpen ? port.close(() => resolve()) : resolve()));
}

test('every byte value crosses the pair, both ways', async ({ pty }) => {
  const a = await open(pty.a);
  const b = await open(pty.b);
  try {
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const atB = readExactly(b, all.length);
    a.write(all);
    assert.equal([...(await withTimeout(atB, 5000, '256 bytes a -> b'))], [...all]);

    const reply = Buffer.from('01 03 00 00 00 02 c4 0b', 'utf8');
    const atA = readExactly(a, reply.length);
    b.write(reply);
    assert.is((await withTimeout(atA, 5000, 'reply b -> a')).toString('utf8'), reply.toString('utf8'));
  } finally {
    await close(a);
    await close(b);
  }
});

test.run();
