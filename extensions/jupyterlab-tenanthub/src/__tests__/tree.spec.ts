import { childPath, DatasetTree, isExpandable, Row } from '../tree';

function labels(rows: Row[]): string[] {
  return rows.map(row => {
    const pad = '  '.repeat(row.depth);
    switch (row.type) {
      case 'source':
        return `${pad}${row.expanded ? '-' : '+'}${row.source}`;
      case 'entry':
        return `${pad}${row.expandable ? (row.expanded ? '-' : '+') : ' '}${row.entry.name}`;
      case 'more':
        return `${pad}[load more${row.loading ? '...' : ''}]`;
      case 'error':
        return `${pad}!${row.message}`;
    }
  });
}

describe('the Datasets tree', () => {
  let tree: DatasetTree;
  beforeEach(() => {
    tree = new DatasetTree();
    tree.setSources([
      { name: 'team', kind: 'files' },
      { name: 'lake', kind: 's3' }
    ]);
  });

  it('shows the sources collapsed until one is expanded', () => {
    expect(labels(tree.rows())).toEqual(['+team', '+lake']);
  });

  it('asks for the first page on the first expansion only', () => {
    expect(tree.toggle('team', '')).toBe(true);
    expect(tree.beginPage('team', '')).toBeUndefined(); // first page: no cursor
    tree.addPage('team', '', {
      entries: [
        { name: 'a.csv', kind: 'file' },
        { name: 'sub', kind: 'folder' }
      ],
      next_cursor: null
    });
    expect(labels(tree.rows())).toEqual(['-team', '   a.csv', '  +sub', '+lake']);
    expect(tree.toggle('team', '')).toBe(false); // collapse
    expect(labels(tree.rows())).toEqual(['+team', '+lake']);
    expect(tree.toggle('team', '')).toBe(false); // expand again: the entries are kept
    expect(labels(tree.rows())).toEqual(['-team', '   a.csv', '  +sub', '+lake']);
  });

  it('pages with the cursor: load more appends and sends the last cursor', () => {
    tree.toggle('team', '');
    tree.beginPage('team', '');
    tree.addPage('team', '', { entries: [{ name: 'f1', kind: 'file' }], next_cursor: 'c1' });
    expect(labels(tree.rows())).toEqual(['-team', '   f1', '  [load more]', '+lake']);
    expect(tree.beginPage('team', '')).toBe('c1');
    expect(labels(tree.rows())).toContain('  [load more...]');
    expect(tree.beginPage('team', '')).toBeNull(); // already loading: no second request
    tree.addPage('team', '', { entries: [{ name: 'f2', kind: 'file' }], next_cursor: 'c2' });
    expect(tree.beginPage('team', '')).toBe('c2');
    tree.addPage('team', '', { entries: [{ name: 'f3', kind: 'file' }] });
    expect(labels(tree.rows())).toEqual(['-team', '   f1', '   f2', '   f3', '+lake']);
    expect(tree.beginPage('team', '')).toBeNull(); // the last page is in
  });

  it('keeps the cursor after a failed page, so a retry asks for the same page', () => {
    tree.toggle('lake', '');
    tree.beginPage('lake', '');
    tree.addPage('lake', '', { entries: [{ name: 'x', kind: 'file' }], next_cursor: 'k' });
    expect(tree.beginPage('lake', '')).toBe('k');
    tree.failPage('lake', '', 'timed out (HTTP 504)');
    expect(labels(tree.rows())).toEqual([
      '+team',
      '-lake',
      '   x',
      '  !timed out (HTTP 504)',
      '  [load more]'
    ]);
    expect(tree.beginPage('lake', '')).toBe('k');
  });

  it('expands folders below folders with their own paths and pages', () => {
    tree.toggle('team', '');
    tree.beginPage('team', '');
    tree.addPage('team', '', { entries: [{ name: 'sub', kind: 'folder' }] });
    expect(tree.toggle('team', 'sub')).toBe(true);
    tree.beginPage('team', 'sub');
    tree.addPage('team', 'sub', { entries: [{ name: 'deep', kind: 'folder' }], next_cursor: 'n' });
    const rows = tree.rows();
    expect(labels(rows)).toEqual(['-team', '  -sub', '    +deep', '    [load more]', '+lake']);
    const deep = rows.find(r => r.type === 'entry' && r.entry.name === 'deep');
    expect(deep).toMatchObject({ path: 'sub/deep', depth: 2 });
    const more = rows.find(r => r.type === 'more');
    expect(more).toMatchObject({ source: 'team', path: 'sub' });
  });

  it('forgets the folders of a source that is gone', () => {
    tree.toggle('lake', '');
    tree.beginPage('lake', '');
    tree.addPage('lake', '', { entries: [{ name: 'x', kind: 'file' }] });
    tree.setSources([{ name: 'team', kind: 'files' }]);
    tree.setSources([
      { name: 'team', kind: 'files' },
      { name: 'lake', kind: 's3' }
    ]);
    expect(labels(tree.rows())).toEqual(['+team', '+lake']);
  });

  it('knows which kinds expand and how paths join', () => {
    expect(isExpandable('folder')).toBe(true);
    expect(isExpandable('database')).toBe(true);
    expect(isExpandable('table')).toBe(false);
    expect(isExpandable('file')).toBe(false);
    expect(childPath('', 'a')).toBe('a');
    expect(childPath('a', 'b')).toBe('a/b');
  });
});
