/**
 * The Datasets panel's tree as plain data (pure): sources at the top, folders
 * expanded page by page with the platform's opaque cursor, rows to render.
 */

export interface Entry {
  name: string;
  kind: string; // file, folder, table or database
  size?: number | null;
  modified?: string | null;
}

export interface Page {
  entries: Entry[];
  next_cursor?: string | null;
}

/** A folder (or source root, path ''): what has been listed of it so far. */
export interface Folder {
  entries: Entry[];
  nextCursor: string | null;
  loaded: boolean; // at least one page came back
  loading: boolean;
  expanded: boolean;
  error: string | null;
}

export type Row =
  | { type: 'source'; source: string; kind: string; depth: 0; expanded: boolean; loading: boolean }
  | {
      type: 'entry';
      source: string;
      path: string;
      entry: Entry;
      depth: number;
      expandable: boolean;
      expanded: boolean;
      loading: boolean;
    }
  | { type: 'more'; source: string; path: string; depth: number; loading: boolean }
  | { type: 'error'; source: string; path: string; depth: number; message: string };

const EXPANDABLE = new Set(['folder', 'database', 'schema', 'prefix']);

export function isExpandable(kind: string): boolean {
  return EXPANDABLE.has(kind);
}

export function childPath(path: string, name: string): string {
  return path ? `${path}/${name}` : name;
}

export function folderKey(source: string, path: string): string {
  return `${source}\u0000${path}`;
}

function emptyFolder(): Folder {
  return {
    entries: [],
    nextCursor: null,
    loaded: false,
    loading: false,
    expanded: false,
    error: null
  };
}

export class DatasetTree {
  sources: { name: string; kind: string }[] = [];
  private folders = new Map<string, Folder>();

  setSources(sources: { name: string; kind: string }[]): void {
    this.sources = sources.map(s => ({ name: s.name, kind: s.kind }));
    const names = new Set(this.sources.map(s => s.name));
    for (const key of [...this.folders.keys()]) {
      if (!names.has(key.split('\u0000')[0])) {
        this.folders.delete(key);
      }
    }
  }

  folder(source: string, path: string): Folder {
    const key = folderKey(source, path);
    let found = this.folders.get(key);
    if (!found) {
      found = emptyFolder();
      this.folders.set(key, found);
    }
    return found;
  }

  /**
   * Expand or collapse; on the first expansion the caller must load the first page
   * (returns true then).
   */
  toggle(source: string, path: string): boolean {
    const folder = this.folder(source, path);
    folder.expanded = !folder.expanded;
    return folder.expanded && !folder.loaded && !folder.loading;
  }

  /**
   * Start loading the next page: the cursor to send (undefined for the first page),
   * or null when there is nothing to load (loading already, or the last page is in).
   */
  beginPage(source: string, path: string): string | undefined | null {
    const folder = this.folder(source, path);
    if (folder.loading || (folder.loaded && !folder.nextCursor)) {
      return null;
    }
    folder.loading = true;
    folder.error = null;
    return folder.loaded ? (folder.nextCursor as string) : undefined;
  }

  /** A page arrived: its entries follow the ones shown, its cursor is the next. */
  addPage(source: string, path: string, page: Page): void {
    const folder = this.folder(source, path);
    folder.entries = folder.entries.concat(page.entries);
    folder.nextCursor = page.next_cursor || null;
    folder.loaded = true;
    folder.loading = false;
  }

  /** The page failed: nothing changes but the message (the next try sends the same cursor). */
  failPage(source: string, path: string, message: string): void {
    const folder = this.folder(source, path);
    folder.loading = false;
    folder.error = message;
  }

  /** Everything to draw, top to bottom. */
  rows(): Row[] {
    const rows: Row[] = [];
    for (const source of this.sources) {
      const root = this.folders.get(folderKey(source.name, ''));
      const expanded = !!root?.expanded;
      rows.push({
        type: 'source',
        source: source.name,
        kind: source.kind,
        depth: 0,
        expanded,
        loading: !!root?.loading
      });
      if (expanded) {
        this.folderRows(source.name, '', 1, rows);
      }
    }
    return rows;
  }

  private folderRows(source: string, path: string, depth: number, rows: Row[]): void {
    const folder = this.folder(source, path);
    for (const entry of folder.entries) {
      const entryPath = childPath(path, entry.name);
      const expandable = isExpandable(entry.kind);
      const child = expandable ? this.folders.get(folderKey(source, entryPath)) : undefined;
      const expanded = !!child?.expanded;
      rows.push({
        type: 'entry',
        source,
        path: entryPath,
        entry,
        depth,
        expandable,
        expanded,
        loading: !!child?.loading
      });
      if (expanded) {
        this.folderRows(source, entryPath, depth + 1, rows);
      }
    }
    if (folder.error) {
      rows.push({ type: 'error', source, path, depth, message: folder.error });
    }
    if (folder.loaded && folder.nextCursor) {
      rows.push({ type: 'more', source, path, depth, loading: folder.loading });
    }
  }
}
