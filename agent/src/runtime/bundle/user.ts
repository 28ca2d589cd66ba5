/**
 * "user[:group]" -> uid, gid and supplementary gids, resolved against the
 * image's /etc/passwd and /etc/group the way runc's libcontainer/user
 * GetExecUser does (and so Docker and podman): a numeric part is taken as is;
 * a name must exist; with no group given, the gid comes from the passwd entry
 * (0 when the uid has none) and the supplementary groups are the groups that
 * list the user's name as a member.
 */
import { invalid } from '../../errors.js';
import type { OciUser } from './oci-types.js';

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
}
interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

/** Largest valid id: (uid_t)-1 is reserved as "no id". */
const MAX_ID = 0xffff_fffe;
const NUMERIC = /^\d+$/;

function parseId(s: string, what: string): number {
  const n = Number(s);
  if (!Number.isSafeInteger(n) || n > MAX_ID) throw invalid(`${what} ${s} is out of range (0-${MAX_ID})`);
  return n;
}

/** Parse passwd(5)/group(5) lines: colon-separated, comments and malformed lines skipped (as runc does). */
function lines(text: string | undefined): string[][] {
  if (text === undefined) return [];
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => l.split(':'));
}

function parsePasswd(text: string | undefined): PasswdEntry[] {
  return lines(text)
    .filter((f) => f.length >= 4 && NUMERIC.test(f[2] as string) && NUMERIC.test(f[3] as string))
    .map((f) => ({ name: f[0] as string, uid: Number(f[2]), gid: Number(f[3]) }));
}

function parseGroup(text: string | undefined): GroupEntry[] {
  return lines(text)
    .filter((f) => f.length >= 3 && NUMERIC.test(f[2] as string))
    .map((f) => ({
      name: f[0] as string,
      gid: Number(f[2]),
      members: (f[3] ?? '').split(',').filter((m) => m !== ''),
    }));
}

/**
 * Pure: resolve `spec` ("", "uid", "uid:gid", "name", "name:group", ...) to
 * the runtime spec's process.user. Throws `invalid` naming `field` for an
 * unknown name or a malformed spec.
 */
export function resolveUser(
  spec: string,
  passwd: string | undefined,
  group: string | undefined,
  field: string,
): OciUser {
  if (spec === '') return { uid: 0, gid: 0 };
  const parts = spec.split(':');
  if (parts.length > 2 || parts[0] === '' || parts[1] === '')
    throw invalid(`${field} "${spec}" is not "user", "user:group", "uid" or "uid:gid"`);
  const [userPart, groupPart] = parts as [string, string?];

  const users = parsePasswd(passwd);
  let uid: number;
  let entry: PasswdEntry | undefined;
  if (NUMERIC.test(userPart)) {
    uid = parseId(userPart, `${field} uid`);
    entry = users.find((u) => u.uid === uid);
  } else {
    if (passwd === undefined) throw invalid(`${field}: unknown user ${userPart}: the image has no /etc/passwd`);
    entry = users.find((u) => u.name === userPart);
    if (!entry) throw invalid(`${field}: unknown user ${userPart}: not in the image's /etc/passwd`);
    uid = entry.uid;
  }

  const groups = parseGroup(group);
  if (groupPart !== undefined) {
    if (NUMERIC.test(groupPart)) return { uid, gid: parseId(groupPart, `${field} gid`) };
    if (group === undefined) throw invalid(`${field}: unknown group ${groupPart}: the image has no /etc/group`);
    const g = groups.find((x) => x.name === groupPart);
    if (!g) throw invalid(`${field}: unknown group ${groupPart}: not in the image's /etc/group`);
    return { uid, gid: g.gid };
  }

  const gid = entry?.gid ?? 0;
  const name = entry?.name;
  const supplementary = name === undefined ? [] : groups.filter((g) => g.members.includes(name)).map((g) => g.gid);
  const additionalGids = [...new Set(supplementary)].filter((g) => g !== gid);
  return additionalGids.length > 0 ? { uid, gid, additionalGids } : { uid, gid };
}
