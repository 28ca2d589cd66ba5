import type { ImageRecord } from '../../images/image-records.js';
import type { ImageSummary, PullEvent } from '../../images/ports.js';
import type { PruneReport } from '../../images/service.js';
import type { Command } from '../command.js';
import { EXIT } from '../context.js';
import { renderTable } from '../output.js';
import { formatBytes, PullProgress } from '../progress.js';

export const pullCommand: Command = {
  path: ['pull'],
  summary: 'Pull an image (registry ref, oci:/layout[:tag], oci-archive:/file.tar[:tag]) into the store',
  args: 'REF',
  options: { platform: { type: 'string' } },
  optionHelp: ["--platform OS/ARCH[/VARIANT]   pick this platform from a multi-platform image (default: the host's)"],
  async run(ctx, values, args) {
    const [ref] = args;
    if (!ref || args.length > 1) {
      ctx.err('gantry pull: name exactly one image reference');
      return EXIT.usage;
    }
    const body = typeof values.platform === 'string' ? { ref, platform: values.platform } : { ref };
    const progress = ctx.json
      ? undefined
      : new PullProgress((t) => process.stdout.write(t), process.stdout.isTTY === true);
    let done: ImageSummary | undefined;
    for await (const e of ctx.api().stream<PullEvent>('POST', '/v1/images/pull', body)) {
      if (ctx.json) ctx.out(JSON.stringify(e));
      else progress?.onEvent(e);
      if (e.type === 'done') done = e.image;
    }
    if (!done) {
      ctx.err('gantry pull: the agent ended the pull without a result');
      return EXIT.failure;
    }
    return EXIT.ok;
  },
};

export const imagesCommand: Command = {
  path: ['images'],
  summary: 'List pulled images',
  options: {},
  async run(ctx) {
    const images = await ctx.api().get<ImageSummary[]>('/v1/images');
    if (ctx.json) {
      ctx.out(JSON.stringify(images, null, 2));
      return EXIT.ok;
    }
    ctx.out(
      renderTable(
        ['REFERENCE', 'DIGEST', 'PLATFORM', 'SIZE', 'UNPACKED', 'PULLED'],
        images.map((i) => [
          i.ref,
          i.digest.slice(7, 19),
          i.platform,
          formatBytes(i.size),
          formatBytes(i.unpackedSize),
          i.pulledAt,
        ]),
      ),
    );
    return EXIT.ok;
  },
};

export const inspectImageCommand: Command = {
  path: ['image', 'inspect'],
  summary: 'Show one image: manifest, config and layers',
  args: 'REF',
  options: {},
  async run(ctx, _values, args) {
    const [ref] = args;
    if (!ref) {
      ctx.err('gantry image inspect: name an image');
      return EXIT.usage;
    }
    const image = await ctx.api().get<ImageRecord>(`/v1/images/inspect?ref=${encodeURIComponent(ref)}`);
    ctx.out(JSON.stringify(image, null, 2));
    return EXIT.ok;
  },
};

export const rmiCommand: Command = {
  path: ['rmi'],
  summary: 'Remove images (by reference or digest) and free what nothing else uses',
  args: 'REF...',
  options: {},
  async run(ctx, _values, args) {
    if (args.length === 0) {
      ctx.err('gantry rmi: name at least one image');
      return EXIT.usage;
    }
    for (const ref of args) {
      const res = await ctx
        .api()
        .request<{ removed: string; pruned: PruneReport }>('DELETE', `/v1/images?ref=${encodeURIComponent(ref)}`);
      if (ctx.json) ctx.out(JSON.stringify(res));
      else ctx.out(`Removed ${res.removed} (freed ${formatBytes(res.pruned.bytes)})`);
    }
    return EXIT.ok;
  },
};

export const pruneCommand: Command = {
  path: ['image', 'prune'],
  summary: 'Delete blobs and unpacked layers that no image references',
  options: {},
  async run(ctx) {
    const r = await ctx.api().post<PruneReport>('/v1/images/prune');
    if (ctx.json) ctx.out(JSON.stringify(r, null, 2));
    else
      ctx.out(
        `Removed ${r.blobs} blobs, ${r.snapshots} unpacked layers, ${r.partials} stale partial downloads; freed ${formatBytes(r.bytes)}`,
      );
    return EXIT.ok;
  },
};
