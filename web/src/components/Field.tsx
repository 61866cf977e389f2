import { cloneElement, useId, type ReactElement } from 'react';

interface Props {
  label: string;
  /** One input or select; it gets the id the label points at. */
  children: ReactElement<{ id?: string }>;
  /** Beside the control, e.g. a button. */
  extra?: ReactElement;
}

/** A labelled form control; the label names only the control, not the value it shows. */
export function Field({ label, children, extra }: Props) {
  const id = useId();
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <span className="with-button">
        {cloneElement(children, { id })}
        {extra}
      </span>
    </div>
  );
}
