/*
 * Build the prebuilt labextension (jupyterlab_tenanthub/labextension) with
 * @jupyterlab/builder against the core package of the installed JupyterLab
 * (jupyterlab/staging), which is what `jupyter labextension build` did until
 * JupyterLab 4.6 handed it to jupyter_builder (which fetches core metadata
 * from the network). JUPYTERLAB_CORE_PATH overrides the core package folder.
 *
 * usage: node build-labextension.js [--development]
 */
const { execFileSync } = require('child_process');

function corePath() {
  if (process.env.JUPYTERLAB_CORE_PATH) {
    return process.env.JUPYTERLAB_CORE_PATH;
  }
  const code =
    'import os, jupyterlab; print(os.path.join(os.path.dirname(jupyterlab.__file__), "staging"))';
  const tried = [];
  for (const python of [process.env.PYTHON, 'python3', 'python'].filter(Boolean)) {
    try {
      return execFileSync(python, ['-c', code], { stdio: ['ignore', 'pipe', 'pipe'] })
        .toString()
        .trim();
    } catch (error) {
      tried.push(`${python}: ${String(error.stderr || error.message).trim().split('\n').pop()}`);
    }
  }
  throw new Error(
    'no Python with JupyterLab found to build against (' +
      tried.join('; ') +
      '): install jupyterlab or set JUPYTERLAB_CORE_PATH'
  );
}

const builder = require.resolve('@jupyterlab/builder/lib/build-labextension.js');
const args = [builder, '--core-path', corePath()];
if (process.argv.includes('--development')) {
  args.push('--development');
}
args.push('.');
execFileSync(process.execPath, args, { stdio: 'inherit', cwd: __dirname });
