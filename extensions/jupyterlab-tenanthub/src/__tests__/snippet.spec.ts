import { datasetRef, datasetSnippet, pythonString } from '../snippet';

describe('the SDK snippet for a dataset selection', () => {
  it('reads source/path with the SDK', () => {
    expect(datasetSnippet('team', 'sales/2024.csv')).toBe(
      'from tenanthub import datasets\ndf = datasets.read("team/sales/2024.csv")'
    );
  });

  it('joins the source and path with one slash whatever the path looks like', () => {
    expect(datasetRef('lake', '/events/day.jsonl')).toBe('lake/events/day.jsonl');
    expect(datasetRef('lake', 'events/')).toBe('lake/events');
    expect(datasetRef('lake', '')).toBe('lake');
  });

  it('keeps quotes, backslashes and newlines in names inside the Python string', () => {
    const code = datasetSnippet('team', 'odd "name"\\x\n.csv');
    expect(code).toBe(
      'from tenanthub import datasets\ndf = datasets.read("team/odd \\"name\\"\\\\x\\n.csv")'
    );
    expect(pythonString('é')).toBe('"é"');
  });
});
