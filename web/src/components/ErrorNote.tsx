/** An error in words, announced to screen readers; renders nothing without a message. */
export function ErrorNote({ message, onDismiss }: { message: string | undefined; onDismiss?: () => void }) {
  if (!message) return null;
  return (
    <div className="error-note" role="alert">
      <span>{message}</span>
      {onDismiss && (
        <button type="button" className="link" onClick={onDismiss} aria-label="Dismiss this error">
          Dismiss
        </button>
      )}
    </div>
  );
}
