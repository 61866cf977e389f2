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

interface NumberProps {
  label: string;
  min: number;
  max: number;
  /** 'any' for a real number, else the increment. */
  step: number | 'any';
  value: number;
  onChange: (value: number) => void;
  extra?: ReactElement;
}

/** A labelled number input; the browser checks min, max and step before the form submits. */
export function NumberField({ label, min, max, step, value, onChange, extra }: NumberProps) {
  return (
    <Field label={label} extra={extra}>
      <input
        type="number"
        min={min}
        max={max}
        step={step}
        value={value}
        onChange={(e) => onChange(Number(e.target.value))}
      />
    </Field>
  );
}
