/**
 * Calls to the server extension (``<base_url>/tenanthub/...``), which relays them to
 * the platform API as the server's user. A refusal keeps the platform's status and
 * message: it is thrown as a TenantHubError, never swallowed.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

export class TenantHubError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly problem: string | null = null
  ) {
    super(message);
    this.name = 'TenantHubError';
  }
}

export async function requestAPI<T>(
  endpoint: string,
  init: RequestInit = {},
  query: Record<string, string | number | undefined | null> = {}
): Promise<T> {
  const settings = ServerConnection.makeSettings();
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== '') {
      params.set(name, String(value));
    }
  }
  const search = params.toString();
  const url =
    URLExt.join(settings.baseUrl, 'tenanthub', endpoint) + (search ? `?${search}` : '');
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch (error) {
    throw new TenantHubError(0, `the notebook server did not answer: ${error}`);
  }
  const text = await response.text();
  let data: any = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!response.ok) {
    const message =
      (data && typeof data.message === 'string' && data.message) ||
      text.slice(0, 300) ||
      response.statusText;
    throw new TenantHubError(response.status, message, data?.problem ?? null);
  }
  return data as T;
}

export interface Source {
  tenant: string;
  name: string;
  kind: string;
  settings: Record<string, unknown>;
  secrets_set: string[];
}

export interface Health {
  ok: boolean;
  problem: string | null;
  message: string;
  advice: string;
}

export interface Sample {
  source: string;
  path: string;
  columns: string[];
  rows: unknown[][];
  truncated: boolean;
}

export interface Schema {
  source: string;
  path: string;
  columns: { name: string; type: string; nullable: boolean }[];
  row_count: number | null;
  row_count_estimated: boolean;
}
