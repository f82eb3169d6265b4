/**
 * The notebook SDK code that loads a dataset selection (pure).
 */

/** `source/path` as the SDK's datasets.read() takes it. */
export function datasetRef(source: string, path: string): string {
  const rest = path.replace(/^\/+/, '').replace(/\/+$/, '');
  return rest ? `${source}/${rest}` : source;
}

/**
 * A Python string literal for any text: JSON's escapes (\" \\ \n \t \uXXXX) are all
 * valid in Python, so a quote or backslash in a name cannot break the code.
 */
export function pythonString(text: string): string {
  return JSON.stringify(text);
}

/** The SDK snippet: `from tenanthub import datasets` and a read of the selection. */
export function datasetSnippet(source: string, path: string): string {
  return (
    'from tenanthub import datasets\n' +
    `df = datasets.read(${pythonString(datasetRef(source, path))})`
  );
}
