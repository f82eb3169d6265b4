import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { Clipboard, Notification, ToolbarButton } from '@jupyterlab/apputils';
import { DocumentRegistry } from '@jupyterlab/docregistry';
import { IFileBrowserFactory } from '@jupyterlab/filebrowser';
import { INotebookModel, INotebookTracker, NotebookActions, NotebookPanel } from '@jupyterlab/notebook';
import { LabIcon } from '@jupyterlab/ui-components';
import { DisposableDelegate, IDisposable } from '@lumino/disposable';

import { DatasetsPanel, notifyError } from './datasets';
import { JobsPanel } from './jobs';
import { runAsJob } from './runjob';

const databaseSvg =
  '<svg xmlns="http://www.w3.org/2000/svg" width="16" viewBox="0 0 24 24">' +
  '<g class="jp-icon3" fill="#616161"><path d="M12 3C7.58 3 4 4.79 4 7v10c0 2.21 3.59 4 ' +
  '8 4s8-1.79 8-4V7c0-2.21-3.58-4-8-4zm6 14c0 .5-2.13 2-6 2s-6-1.5-6-2v-2.23c1.61.78 ' +
  '3.72 1.23 6 1.23s4.39-.45 6-1.23V17zm0-4.55c-1.3.95-3.58 1.55-6 1.55s-4.7-.6-6-1.55V9.64' +
  'c1.47.83 3.61 1.36 6 1.36s4.53-.53 6-1.36v2.81zM12 9C8.13 9 6 7.5 6 7s2.13-2 6-2 6 ' +
  '1.5 6 2-2.13 2-6 2z"/></g></svg>';

export const databaseIcon = new LabIcon({ name: 'tenanthub:database', svgstr: databaseSvg });

const jobsSvg =
  '<svg xmlns="http://www.w3.org/2000/svg" width="16" viewBox="0 0 24 24">' +
  '<g class="jp-icon3" fill="#616161"><path d="M12 2a10 10 0 1 0 0 20 10 10 0 0 0 0-20zm0 ' +
  '18a8 8 0 1 1 0-16 8 8 0 0 1 0 16zm.5-13H11v6l5.25 3.15.75-1.23-4.5-2.67V7z"/></g></svg>';

export const jobsIcon = new LabIcon({ name: 'tenanthub:jobs', svgstr: jobsSvg });

export namespace CommandIDs {
  export const insertDataset = 'tenanthub:insert-dataset-cell';
  export const copyDataset = 'tenanthub:copy-dataset-code';
  export const openDatasets = 'tenanthub:open-datasets';
  export const runAsJob = 'tenanthub:run-as-job';
  export const openJobs = 'tenanthub:open-jobs';
}

/** The notebook toolbar's "Run as job" button. */
class RunAsJobButton implements DocumentRegistry.IWidgetExtension<NotebookPanel, INotebookModel> {
  constructor(private app: JupyterFrontEnd) {}

  createNew(panel: NotebookPanel): IDisposable {
    const button = new ToolbarButton({
      icon: jobsIcon,
      label: 'Run as job',
      tooltip: 'Run this notebook as a TenantHub job (now or on a schedule)',
      onClick: () => {
        void this.app.commands.execute(CommandIDs.runAsJob, { path: panel.context.path });
      }
    });
    panel.toolbar.insertItem(10, 'tenanthubRunAsJob', button);
    return new DisposableDelegate(() => button.dispose());
  }
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyterlab-tenanthub:plugin',
  description: "TenantHub: the tenant's datasets and notebook jobs in JupyterLab",
  autoStart: true,
  requires: [INotebookTracker],
  optional: [ILayoutRestorer, IFileBrowserFactory],
  activate: (
    app: JupyterFrontEnd,
    notebooks: INotebookTracker,
    restorer: ILayoutRestorer | null,
    browsers: IFileBrowserFactory | null
  ) => {
    const insertCell = (code: string): void => {
      const panel = notebooks.currentWidget;
      if (!panel) {
        Notification.warning('Open a notebook first: the cell goes into the active notebook.');
        return;
      }
      const notebook = panel.content;
      NotebookActions.insertBelow(notebook);
      const cell = notebook.activeCell;
      if (cell) {
        cell.model.sharedModel.setSource(code);
      }
      app.shell.activateById(panel.id);
    };
    const copyCode = (code: string): void => {
      Clipboard.copyToSystem(code);
      Notification.info('Copied the code that loads the dataset.', { autoClose: 3000 });
    };
    const panel = new DatasetsPanel({ insertCell, copyCode });
    panel.title.icon = databaseIcon;
    app.shell.add(panel, 'left', { rank: 600 });
    if (restorer) {
      restorer.add(panel, 'tenanthub-datasets');
    }
    void panel.refresh();

    const jobs = new JobsPanel(path => {
      // a file that cannot be opened is said, not only logged in the browser's console
      app.commands
        .execute('docmanager:open', { path })
        .catch(error => notifyError(`Cannot open ${path}`, error));
    });
    jobs.title.icon = jobsIcon;
    app.shell.add(jobs, 'left', { rank: 610 });
    if (restorer) {
      restorer.add(jobs, 'tenanthub-jobs');
    }
    jobs.start();

    /** The notebook to run: the command's path, else the file browser's selection, else
     * the active notebook. */
    const notebookPath = (args: { path?: unknown }): string | null => {
      if (typeof args.path === 'string' && args.path) {
        return args.path;
      }
      const selected = browsers?.tracker.currentWidget?.selectedItems().next();
      if (selected && !selected.done && selected.value.type === 'notebook') {
        return selected.value.path;
      }
      return notebooks.currentWidget?.context.path ?? null;
    };
    app.commands.addCommand(CommandIDs.runAsJob, {
      label: 'Run as Job…',
      caption: 'Run the notebook as a TenantHub job, now or on a schedule',
      icon: jobsIcon,
      execute: async args => {
        const path = notebookPath(args as { path?: unknown });
        if (!path) {
          Notification.warning('Select or open a notebook to run as a job.');
          return;
        }
        const submitted = await runAsJob(path);
        if (submitted) {
          jobs.watch(submitted.run);
          app.shell.activateById(jobs.id);
        }
      }
    });
    app.commands.addCommand(CommandIDs.openJobs, {
      label: 'Jobs',
      caption: 'Your TenantHub job runs and schedules',
      execute: () => app.shell.activateById(jobs.id)
    });
    app.docRegistry.addWidgetExtension('Notebook', new RunAsJobButton(app));
    app.contextMenu.addItem({
      command: CommandIDs.runAsJob,
      selector: '.jp-DirListing-item[data-file-type="notebook"]',
      rank: 10
    });

    app.commands.addCommand(CommandIDs.openDatasets, {
      label: 'Datasets',
      caption: "Browse the tenant's data sources",
      execute: () => app.shell.activateById(panel.id)
    });
    app.commands.addCommand(CommandIDs.insertDataset, {
      label: 'Insert a cell that loads the selected dataset',
      isEnabled: () => panel.selected !== null && notebooks.currentWidget !== null,
      execute: () => {
        const code = panel.snippet();
        if (code) {
          insertCell(code);
        }
      }
    });
    app.commands.addCommand(CommandIDs.copyDataset, {
      label: 'Copy the code that loads the selected dataset',
      isEnabled: () => panel.selected !== null,
      execute: () => {
        const code = panel.snippet();
        if (code) {
          copyCode(code);
        }
      }
    });
  }
};

export default plugin;
