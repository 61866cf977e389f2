import { Fragment } from 'react';
import type { Runtime } from '../hooks/useRuntime';
import { megabytes, milliseconds } from '../format';

/** Each model's size, where its bytes came from and how long they took, and its session. */
export function ModelsTable({ runtime }: { runtime: Runtime }) {
  const { models } = runtime;
  const notes = models.flatMap(({ entry, load, cacheNote }) =>
    [load?.note, cacheNote].filter((note) => note !== undefined).map((note) => `${entry.file}: ${note}`),
  );
  return (
    <>
      <h2>Models</h2>
      <div className="table-scroll">
        <table className="models">
          <thead>
            <tr>
              <th>file</th>
              <th className="number">size</th>
              <th className="number">read</th>
              <th className="number">session</th>
              <th>on</th>
            </tr>
          </thead>
          <tbody>
            {models.map(({ entry, received, fetchMs, from, load, error }) => (
              <tr key={entry.id} className={error ? 'failed' : undefined} data-testid={`model-${entry.id}`}>
                <td title={`${entry.role}, ${entry.precision}, from ${entry.source}`}>
                  {/* a long name may break after an underscore, so the table fits its panel */}
                  {entry.file.split(/(?<=_)/).map((part, index) => (
                    <Fragment key={index}>
                      {index > 0 && <wbr />}
                      {part}
                    </Fragment>
                  ))}
                </td>
                <td className="number">{megabytes(entry.bytes)}</td>
                <td className="number" title={from && `read from the ${from}`}>
                  {fetchMs !== undefined || error
                    ? `${milliseconds(fetchMs)}${from === 'cache' ? ' (cache)' : ''}`
                    : `${Math.floor((100 * received) / entry.bytes)}%`}
                </td>
                <td className="number">{milliseconds(load?.ms)}</td>
                <td>{error ? 'error' : (load?.backend ?? '…')}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {notes.map((note) => (
        <p className="note" key={note}>
          {note}
        </p>
      ))}
    </>
  );
}
