import { cloneElement, useId, type ReactElement } from 'react';

interface Props {
  label: string;
  /** One input or select; it gets the id the label points at. */
  children: ReactElement<{ id?: string; 'aria-describedby'?: string; 'aria-invalid'?: boolean }>;
  /** Beside the control, e.g. a button. */
  extra?: ReactElement;
  /** Shown under the control and announced with it. */
  error?: string;
}

/** A labelled form control with its error, if any; the label names only the control. */
export function Field({ label, children, extra, error }: Props) {
  const id = useId();
  const errorId = `${id}-error`;
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <span className="with-button">
        {cloneElement(children, { id, 'aria-describedby': error ? errorId : undefined, 'aria-invalid': !!error })}
        {extra}
      </span>
      {error && (
        <span className="field-error" id={errorId}>
          {error}
        </span>
      )}
    </div>
  );
}

interface NumberProps {
  label: string;
  min: number;
  max: number;
  /** 'any' for a real number, else the increment. */
  step: number | 'any';
  /** Exactly what was typed. */
  text: string;
  error?: string;
  onText: (text: string, unreadable: boolean) => void;
  extra?: ReactElement;
}

/** A labelled number input that keeps what is typed and shows why it is refused. */
export function NumberField({ label, min, max, step, text, error, onText, extra }: NumberProps) {
  return (
    <Field label={label} extra={extra} error={error}>
      <input
        type="number"
        inputMode={step === 'any' ? 'decimal' : 'numeric'}
        min={min}
        max={max}
        step={step}
        value={text}
        onChange={(e) => onText(e.target.value, e.target.validity.badInput)}
      />
    </Field>
  );
}
