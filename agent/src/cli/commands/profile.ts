import { readFile } from 'node:fs/promises';
import { formatIssue, type ValidationIssue } from '../../config/json-document.js';
import { messageOf } from '../../errors.js';
import type { Command } from '../command.js';
import { EXIT } from '../context.js';

interface FileResult {
  file: string;
  valid: boolean;
  model?: string;
  issues: ValidationIssue[];
}

/** Runs locally (no agent needed): vendors validate profiles on their own machines. */
export const profileValidateCommand: Command = {
  path: ['profile', 'validate'],
  summary: 'Check firmware profile files against the schema and the profile rules',
  args: 'FILE...',
  options: {},
  async run(ctx, _values, files) {
    if (files.length === 0) {
      ctx.err('gantry profile validate: name at least one FILE');
      return EXIT.usage;
    }
    // ajv is heavy; only this command needs it on the CLI side.
    const { ProfileValidator } = await import('../../config/profile.js');
    const validator = await ProfileValidator.load();
    const results: FileResult[] = [];
    for (const file of files) {
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch (e) {
        results.push({ file, valid: false, issues: [{ path: '', message: `cannot read: ${messageOf(e)}` }] });
        continue;
      }
      const check = validator.check(text);
      results.push(
        check.ok
          ? { file, valid: true, model: check.profile.model, issues: [] }
          : { file, valid: false, issues: check.issues },
      );
    }
    if (ctx.json) ctx.out(JSON.stringify(results, null, 2));
    else {
      for (const r of results) {
        if (r.valid) ctx.out(`${r.file}: valid (model ${r.model})`);
        else {
          ctx.out(`${r.file}: ${r.issues.length} problem${r.issues.length === 1 ? '' : 's'}`);
          for (const issue of r.issues) ctx.out(`  ${formatIssue(r.file, issue)}`);
        }
      }
    }
    return results.every((r) => r.valid) ? EXIT.ok : EXIT.failure;
  },
};
