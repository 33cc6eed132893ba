import { render } from "preact";
import { useEffect } from "preact/hooks";
import "../app.css";
import { AcceptInvitation } from "./accept-invitation.tsx";
import { Loading } from "./components/ui.tsx";
import { useRoute } from "./route.ts";
import { restore, session } from "./session.ts";
import { Shell } from "./shell.tsx";
import { SignIn } from "./signin.tsx";
import { useStore } from "./store.ts";

/** The whole console is this one tree: signing in swaps the sign-in page for the shell once. */
function App() {
  const me = useStore(session);
  const route = useRoute();
  useEffect(() => {
    void restore();
  }, []);
  if (me === undefined) return <Loading />;
  const invitation = route.path === "accept-invitation" ? route.params.get("token") : null;
  if (me === null && invitation) return <AcceptInvitation token={invitation} />;
  if (me === null) return <SignIn />;
  return <Shell me={me} />;
}

render(<App />, document.getElementById("app") as HTMLElement);
