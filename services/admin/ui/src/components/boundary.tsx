import { Component, type ComponentChildren } from "preact";

/** A page that throws while drawing shows the error in place; the menu and header stay usable. */
export class ErrorBoundary extends Component<{ children?: ComponentChildren }, { error: Error | null }> {
  override state = { error: null as Error | null };
  override componentDidCatch(error: Error) {
    this.setState({ error });
  }
  override render() {
    return this.state.error ? (
      <p class="error" role="alert">
        This page failed: {this.state.error.message}
      </p>
    ) : (
      this.props.children
    );
  }
}
