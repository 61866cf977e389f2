import { useEffect, useRef, type KeyboardEvent, type ReactNode } from 'react';

export interface TabView<Id extends string> {
  id: Id;
  label: string;
  panel: ReactNode;
}

interface Props<Id extends string> {
  views: TabView<Id>[];
  selected: Id;
  onSelect: (id: Id) => void;
  /** Each new value moves focus into the selected panel, e.g. after another panel sent work there. */
  focusRequest: number;
}

/** Tabs as the ARIA pattern has them: arrow keys, Home and End move between tabs; panels are labelled by their tab. */
export function Tabs<Id extends string>({ views, selected, onSelect, focusRequest }: Props<Id>) {
  const panels = useRef(new Map<Id, HTMLDivElement | null>());
  const tabs = useRef(new Map<Id, HTMLButtonElement | null>());

  const handled = useRef(focusRequest);
  useEffect(() => {
    if (focusRequest === handled.current) return;
    handled.current = focusRequest;
    panels.current.get(selected)?.focus();
  });

  function onKeyDown(event: KeyboardEvent): void {
    const index = views.findIndex((view) => view.id === selected);
    const moves: Record<string, number> = {
      ArrowRight: index + 1,
      ArrowLeft: index - 1,
      Home: 0,
      End: views.length - 1,
    };
    if (!(event.key in moves)) return;
    event.preventDefault();
    const next = views[(moves[event.key] + views.length) % views.length].id;
    onSelect(next);
    tabs.current.get(next)?.focus();
  }

  return (
    <>
      <div className="tabs" role="tablist" aria-label="Views" onKeyDown={onKeyDown}>
        {views.map(({ id, label }) => (
          <button
            key={id}
            ref={(element) => void tabs.current.set(id, element)}
            id={`tab-${id}`}
            role="tab"
            aria-selected={id === selected}
            aria-controls={`panel-${id}`}
            tabIndex={id === selected ? 0 : -1}
            onClick={() => onSelect(id)}
          >
            {label}
          </button>
        ))}
      </div>
      {views.map(({ id, panel }) => (
        <div
          key={id}
          ref={(element) => void panels.current.set(id, element)}
          id={`panel-${id}`}
          role="tabpanel"
          aria-labelledby={`tab-${id}`}
          tabIndex={-1}
          hidden={id !== selected}
        >
          {panel}
        </div>
      ))}
    </>
  );
}
