/**
 * The "Datasets" side panel: the tenant's data sources as a paged tree, a sample
 * (HTML table) and schema of the selected file or table, the source's connection
 * status, and the SDK snippet that loads the selection.
 */
import { Notification } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

import { Health, requestAPI, Sample, Schema, Source, TenantHubError } from './api';
import { datasetSnippet } from './snippet';
import { DatasetTree, Page, Row } from './tree';

export interface Selection {
  source: string;
  path: string;
}

export interface DatasetsActions {
  insertCell(code: string): void;
  copyCode(code: string): void;
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** An API error as a JupyterLab notification, with the platform's message. */
export function notifyError(what: string, error: unknown): void {
  Notification.error(`${what}: ${message(error)}`, { autoClose: 8000 });
}

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className?: string,
  text?: string
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className) {
    node.className = className;
  }
  if (text !== undefined) {
    node.textContent = text;
  }
  return node;
}

export class DatasetsPanel extends Widget {
  readonly tree = new DatasetTree();
  private selection: Selection | null = null;
  private health = new Map<string, Health | 'checking'>();
  private treeNode: HTMLElement;
  private detailNode: HTMLElement;
  private headerNode: HTMLElement;

  constructor(private actions: DatasetsActions) {
    super();
    this.id = 'tenanthub-datasets';
    this.addClass('jp-TenantHub-datasets');
    this.title.caption = 'Datasets';
    this.headerNode = el('div', 'jp-TenantHub-header');
    const heading = el('span', 'jp-TenantHub-heading', 'Datasets');
    const refresh = el('button', 'jp-TenantHub-button jp-mod-styled', 'Refresh');
    refresh.title = 'Reload the data sources';
    refresh.addEventListener('click', () => void this.refresh());
    this.headerNode.append(heading, refresh);
    this.treeNode = el('ul', 'jp-TenantHub-tree');
    this.treeNode.setAttribute('role', 'tree');
    this.detailNode = el('div', 'jp-TenantHub-detail');
    this.node.append(this.headerNode, this.treeNode, this.detailNode);
  }

  get selected(): Selection | null {
    return this.selection;
  }

  async refresh(): Promise<void> {
    try {
      const answer = await requestAPI<{ tenant: string; items: Source[] }>('sources');
      this.tree.setSources(answer.items);
      this.title.caption = `Datasets of ${answer.tenant}`;
    } catch (error) {
      notifyError('Cannot list the data sources', error);
    }
    this.renderTree();
    for (const source of this.tree.sources) {
      void this.checkSource(source.name);
    }
  }

  async checkSource(source: string): Promise<void> {
    this.health.set(source, 'checking');
    this.renderTree();
    try {
      this.health.set(source, await requestAPI<Health>(`sources/${encodeURIComponent(source)}/test`));
    } catch (error) {
      this.health.delete(source);
      notifyError(`Cannot test ${source}`, error);
    }
    this.renderTree();
  }

  async toggle(source: string, path: string): Promise<void> {
    const load = this.tree.toggle(source, path);
    this.renderTree();
    if (load) {
      await this.loadPage(source, path);
    }
  }

  async loadPage(source: string, path: string): Promise<void> {
    const cursor = this.tree.beginPage(source, path);
    if (cursor === null) {
      return;
    }
    this.renderTree();
    try {
      const page = await requestAPI<Page>(
        `sources/${encodeURIComponent(source)}/list`,
        {},
        { path, cursor }
      );
      this.tree.addPage(source, path, page);
    } catch (error) {
      this.tree.failPage(source, path, message(error));
      notifyError(`Cannot list ${source}/${path}`, error);
    }
    this.renderTree();
  }

  async select(source: string, path: string): Promise<void> {
    this.selection = { source, path };
    this.renderTree();
    this.renderDetail(null, null, true);
    const where = `sources/${encodeURIComponent(source)}`;
    const [sample, schema] = await Promise.allSettled([
      requestAPI<Sample>(`${where}/sample`, {}, { path }),
      requestAPI<Schema>(`${where}/schema`, {}, { path })
    ]);
    if (this.selection?.source !== source || this.selection?.path !== path) {
      return; // another selection since
    }
    if (sample.status === 'rejected') {
      notifyError(`Cannot sample ${source}/${path}`, sample.reason);
    }
    if (schema.status === 'rejected') {
      notifyError(`Cannot describe ${source}/${path}`, schema.reason);
    }
    this.renderDetail(
      sample.status === 'fulfilled' ? sample.value : null,
      schema.status === 'fulfilled' ? schema.value : null,
      false
    );
  }

  snippet(): string | null {
    return this.selection ? datasetSnippet(this.selection.source, this.selection.path) : null;
  }

  private renderTree(): void {
    const nodes = this.tree.rows().map(row => this.renderRow(row));
    this.treeNode.replaceChildren(...nodes);
    if (!this.tree.sources.length) {
      this.treeNode.append(el('li', 'jp-TenantHub-empty', 'No data sources in this tenant.'));
    }
  }

  private renderRow(row: Row): HTMLElement {
    const item = el('li', `jp-TenantHub-row jp-TenantHub-${row.type}`);
    item.style.paddingLeft = `${8 + row.depth * 14}px`;
    item.dataset.source = row.source;
    switch (row.type) {
      case 'source': {
        item.setAttribute('role', 'treeitem');
        item.setAttribute('aria-expanded', String(row.expanded));
        item.append(
          el('span', 'jp-TenantHub-caret', row.expanded ? '▾' : '▸'),
          el('span', 'jp-TenantHub-name', row.source),
          el('span', 'jp-TenantHub-kind', row.kind),
          this.statusBadge(row.source)
        );
        item.addEventListener('click', () => void this.toggle(row.source, ''));
        break;
      }
      case 'entry': {
        item.setAttribute('role', 'treeitem');
        item.dataset.path = row.path;
        const selected =
          this.selection?.source === row.source && this.selection?.path === row.path;
        if (selected) {
          item.classList.add('jp-mod-selected');
        }
        item.append(
          el('span', 'jp-TenantHub-caret', row.expandable ? (row.expanded ? '▾' : '▸') : ' '),
          el('span', 'jp-TenantHub-name', row.entry.name),
          el('span', 'jp-TenantHub-kind', row.entry.kind)
        );
        if (row.expandable) {
          item.setAttribute('aria-expanded', String(row.expanded));
          item.addEventListener('click', () => void this.toggle(row.source, row.path));
        } else {
          item.addEventListener('click', () => void this.select(row.source, row.path));
        }
        break;
      }
      case 'more': {
        const button = el(
          'button',
          'jp-TenantHub-more jp-mod-styled',
          row.loading ? 'Loading…' : 'Load more'
        );
        button.disabled = row.loading;
        button.addEventListener('click', () => void this.loadPage(row.source, row.path));
        item.append(button);
        break;
      }
      case 'error': {
        item.append(el('span', 'jp-TenantHub-error', row.message));
        break;
      }
    }
    return item;
  }

  private statusBadge(source: string): HTMLElement {
    const health = this.health.get(source);
    const badge = el('span', 'jp-TenantHub-status');
    if (health === undefined) {
      return badge;
    }
    if (health === 'checking') {
      badge.textContent = '…';
      badge.title = 'Testing the connection';
      return badge;
    }
    badge.classList.add(health.ok ? 'jp-mod-ok' : 'jp-mod-failed');
    badge.textContent = health.ok ? '●' : '✕';
    badge.title = health.ok
      ? 'Connected'
      : `${health.message}${health.advice ? ` (${health.advice})` : ''}`;
    return badge;
  }

  private renderDetail(sample: Sample | null, schema: Schema | null, loading: boolean): void {
    const nodes: HTMLElement[] = [];
    if (!this.selection) {
      this.detailNode.replaceChildren();
      return;
    }
    const { source, path } = this.selection;
    nodes.push(el('div', 'jp-TenantHub-selected', `${source}/${path}`));
    const buttons = el('div', 'jp-TenantHub-buttons');
    const insert = el('button', 'jp-TenantHub-insert jp-mod-styled jp-mod-accept', 'Insert cell');
    insert.title = 'Insert a cell that loads this dataset into the active notebook';
    insert.addEventListener('click', () => this.actions.insertCell(this.snippet() as string));
    const copy = el('button', 'jp-TenantHub-copy jp-mod-styled', 'Copy code');
    copy.addEventListener('click', () => this.actions.copyCode(this.snippet() as string));
    buttons.append(insert, copy);
    nodes.push(buttons);
    nodes.push(el('pre', 'jp-TenantHub-snippet', this.snippet() as string));
    if (loading) {
      nodes.push(el('div', 'jp-TenantHub-loading', 'Loading sample and schema…'));
    }
    if (schema) {
      nodes.push(el('h3', undefined, 'Schema'));
      const rows =
        schema.row_count === null
          ? ''
          : `${schema.row_count_estimated ? '≈ ' : ''}${schema.row_count} rows`;
      if (rows) {
        nodes.push(el('div', 'jp-TenantHub-rowcount', rows));
      }
      const list = el('table', 'jp-TenantHub-schema');
      for (const column of schema.columns) {
        const tr = el('tr');
        tr.append(
          el('td', undefined, column.name),
          el('td', undefined, column.type + (column.nullable ? '' : ' not null'))
        );
        list.append(tr);
      }
      nodes.push(list);
    }
    if (sample) {
      nodes.push(el('h3', undefined, 'Sample'));
      const table = el('table', 'jp-TenantHub-sample');
      const head = el('tr');
      for (const column of sample.columns) {
        head.append(el('th', undefined, column));
      }
      const thead = el('thead');
      thead.append(head);
      const tbody = el('tbody');
      for (const values of sample.rows) {
        const tr = el('tr');
        for (const value of values) {
          tr.append(el('td', undefined, value === null ? '' : String(value)));
        }
        tbody.append(tr);
      }
      table.append(thead, tbody);
      nodes.push(table);
      if (sample.truncated) {
        nodes.push(el('div', 'jp-TenantHub-truncated', 'More rows exist than are shown.'));
      }
    }
    this.detailNode.replaceChildren(...nodes);
  }
}

export { TenantHubError };
