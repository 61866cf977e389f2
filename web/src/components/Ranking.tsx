import type { Classification } from '../types';

const TOP = 5;

/** The most probable class, and the top five as bars. */
export function Ranking({ result }: { result: Classification }) {
  const [top] = result.ranked;
  return (
    <div className="ranking">
      <p className="verdict" data-testid="top-class">
        {top.name} <span>{(top.probability * 100).toFixed(1)}%</span>
      </p>
      <table>
        <tbody>
          {result.ranked.slice(0, TOP).map(({ name, probability }) => (
            <tr key={name}>
              <th scope="row">{name}</th>
              <td className="bar-cell">
                <span className="bar" style={{ width: `${Math.max(probability * 100, 0.5)}%` }} />
              </td>
              <td className="number">{(probability * 100).toFixed(2)}%</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
