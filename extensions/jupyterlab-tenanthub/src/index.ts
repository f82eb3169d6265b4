import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { Clipboard, Notification } from '@jupyterlab/apputils';
import { INotebookTracker, NotebookActions } from '@jupyterlab/notebook';
import { LabIcon } from '@jupyterlab/ui-components';

import { DatasetsPanel } from './datasets';

const databaseSvg =
  '<svg xmlns="http://www.w3.org/2000/svg" width="16" viewBox="0 0 24 24">' +
  '<g class="jp-icon3" fill="#616161"><path d="M12 3C7.58 3 4 4.79 4 7v10c0 2.21 3.59 4 ' +
  '8 4s8-1.79 8-4V7c0-2.21-3.58-4-8-4zm6 14c0 .5-2.13 2-6 2s-6-1.5-6-2v-2.23c1.61.78 ' +
  '3.72 1.23 6 1.23s4.39-.45 6-1.23V17zm0-4.55c-1.3.95-3.58 1.55-6 1.55s-4.7-.6-6-1.55V9.64' +
  'c1.47.83 3.61 1.36 6 1.36s4.53-.53 6-1.36v2.81zM12 9C8.13 9 6 7.5 6 7s2.13-2 6-2 6 ' +
  '1.5 6 2-2.13 2-6 2z"/></g></svg>';

export const databaseIcon = new LabIcon({ name: 'tenanthub:database', svgstr: databaseSvg });

export namespace CommandIDs {
  export const insertDataset = 'tenanthub:insert-dataset-cell';
  export const copyDataset = 'tenanthub:copy-dataset-code';
  export const openDatasets = 'tenanthub:open-datasets';
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyterlab-tenanthub:plugin',
  description: "TenantHub: the tenant's datasets in JupyterLab",
  autoStart: true,
  requires: [INotebookTracker],
  optional: [ILayoutRestorer],
  activate: (
    app: JupyterFrontEnd,
    notebooks: INotebookTracker,
    restorer: ILayoutRestorer | null
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
