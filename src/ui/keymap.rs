//! Keys and mouse to actions. One table, [`KEYMAP`], drives both the
//! dispatch and the `?` help (and a test checks the README against it), so
//! a key can never do one thing and be documented as another. Each binding
//! names the sessions it acts in: a key means one thing in each.

use crossterm::event::{Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseEventKind};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    /// Mouse wheel: move the selection by several rows.
    Scroll(i32),
    SwitchPanel,
    Confirm,
    /// Esc: close the topmost pane or overlay; never quits.
    Back,
    TogglePause,
    Slower,
    Faster,
    CycleSort,
    ToggleHelp,
    ToggleMessages,
    OpenFilter,
    /// q: quits, asking first while the lab has sockets.
    Quit,
    /// Ctrl-C: quits at once.
    QuitNow,
    /// y / n in a confirmation.
    Answer(bool),
    /// K: destroy the selected connection's socket (asks first).
    Destroy,
    Prompt(PromptKey),
    Resize(u16, u16),
    ToggleLab,
    ToggleDetails,
    ToggleLog,
    ToggleDiagram,
    ToggleSegments,
    /// z: the focused pane on the whole screen, and back.
    Zoom,
    /// A key for a recording's clock.
    Replay(ReplayKey),
    ToggleClassroom,
    /// Play the next step of the demo.
    DemoNext,
    /// Start the demo over on a fresh port.
    DemoRestart,
    /// The previous step's narration.
    DemoPrevious,
    ToggleNotes,
    /// b in a demo: the screen goes black (and comes back), as a
    /// presentation's does.
    ToggleBlank,
    /// H: host and service names instead of numbers, and back.
    ToggleNames,
    Lab(LabKey),
    /// A key for the lab's link (`lab --wire`).
    Link(LinkKey),
    /// A key bound in other sessions but not this one: said, not ignored.
    NotHere,
}

/// Replay keys: they steer the recording's clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplayKey {
    Pause,
    /// Half the time between events.
    Faster,
    Slower,
    /// →: the next event, then paused.
    Step,
    /// ←: one event back.
    Back,
    /// g: to a moment typed in.
    Jump,
}

/// Keys for the slow-motion link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkKey {
    /// Step mode, then the next waiting segment through.
    Next,
    DropNext,
    /// Out of step mode: segments flow after their delay.
    Flow,
}

/// The sessions a binding acts in: a set of session kinds (live, lab,
/// demo, replay), the link counted apart (a lab on the link is not a
/// plain lab).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sessions(u8);

impl Sessions {
    pub const LIVE: Sessions = Sessions(1);
    pub const LAB: Sessions = Sessions(1 << 1);
    pub const LAB_LINK: Sessions = Sessions(1 << 2);
    pub const DEMO: Sessions = Sessions(1 << 3);
    pub const DEMO_LINK: Sessions = Sessions(1 << 4);
    pub const REPLAY: Sessions = Sessions(1 << 5);
    /// Every session on the machine's own table (not a recording).
    pub const TABLE: Sessions = Sessions(0b1_1111);
    pub const DEMOS: Sessions = Sessions::DEMO.or(Sessions::DEMO_LINK);
    pub const LINKED: Sessions = Sessions::LAB_LINK.or(Sessions::DEMO_LINK);
    pub const ALL: Sessions = Sessions(0b11_1111);
    /// Each session kind on its own, for tests and the help.
    pub const EACH: [Sessions; 6] = [
        Sessions::LIVE,
        Sessions::LAB,
        Sessions::LAB_LINK,
        Sessions::DEMO,
        Sessions::DEMO_LINK,
        Sessions::REPLAY,
    ];

    pub const fn or(self, other: Sessions) -> Sessions {
        Sessions(self.0 | other.0)
    }

    /// Whether the two sets share a session.
    pub const fn meets(self, other: Sessions) -> bool {
        self.0 & other.0 != 0
    }
}

/// Lab keys: they act while the lab panel is open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LabKey {
    StartStop,
    Connect,
    ConnectMany,
    Target,
    AcceptOne,
    Send,
    Fill,
    ShutdownWrite,
    Close,
    Reset,
    ToggleRead,
    ToggleEcho,
    ToggleHold,
    ToggleAccept,
    Options,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PromptKey {
    Char(char),
    Backspace,
    Clear,
    Submit,
    Cancel,
}

/// What the keyboard is talking to right now: the top overlay.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Normal,
    /// Help or the message history: read, then close.
    Reading,
    Prompt,
    /// A yes/no question.
    Confirm,
}

/// Where a binding is listed in the help.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Section {
    View,
    Lab,
    Demo,
}

/// One line of the key table.
pub struct Binding {
    pub keys: &'static [KeyCode],
    pub action: Action,
    /// The keys as the help writes them; `None` when another binding's
    /// line covers this one (↑ and ↓ share a line).
    pub label: Option<&'static str>,
    pub help: &'static str,
    pub section: Section,
    /// Where the key acts (and is listed in the help).
    pub sessions: Sessions,
}

impl Binding {
    /// The same binding, acting only in these sessions.
    const fn only(mut self, sessions: Sessions) -> Binding {
        self.sessions = sessions;
        self
    }
}

const fn bind(
    keys: &'static [KeyCode],
    action: Action,
    label: &'static str,
    help: &'static str,
    section: Section,
) -> Binding {
    Binding {
        keys,
        action,
        label: Some(label),
        help,
        section,
        sessions: Sessions::ALL,
    }
}

/// A binding listed on another's help line.
const fn also(keys: &'static [KeyCode], action: Action, section: Section) -> Binding {
    Binding {
        keys,
        action,
        label: None,
        help: "",
        section,
        sessions: Sessions::ALL,
    }
}

use Action as A;
use KeyCode::{BackTab, Char, Down, End, Enter, Esc, Home, Left, PageDown, PageUp, Right, Tab, Up};
use LabKey as L;
use ReplayKey as RK;
use Section::{Demo as D, Lab as Lb, View as V};
const TABLE: Sessions = Sessions::TABLE;
const REPLAY: Sessions = Sessions::REPLAY;
const DEMOS: Sessions = Sessions::DEMOS;
/// A presentation clicker sends PageDown / PageUp (some → ← or space):
/// in a demo they step it, elsewhere they keep their meaning.
const NOT_DEMOS: Sessions = Sessions::LIVE
    .or(Sessions::LAB)
    .or(Sessions::LAB_LINK)
    .or(Sessions::REPLAY);
const TABLE_NOT_DEMOS: Sessions = Sessions::LIVE.or(Sessions::LAB).or(Sessions::LAB_LINK);
const LINKED: Sessions = Sessions::LINKED;
const LINK_LAB: Sessions = Sessions::LAB_LINK;

/// Every key. In each session a key is bound at most once (a test
/// checks), so the order only groups the help.
pub const KEYMAP: &[Binding] = &[
    bind(
        &[Up, Char('k')],
        A::Up,
        "↑ ↓  j k",
        "move in the focused panel",
        V,
    ),
    also(&[Down, Char('j')], A::Down, V),
    bind(&[PageUp], A::PageUp, "PgUp PgDn", "one page", V).only(NOT_DEMOS),
    also(&[PageDown], A::PageDown, V).only(NOT_DEMOS),
    bind(
        &[Home, Char('g')],
        A::Top,
        "g G  Home End",
        "first / last row",
        V,
    )
    .only(TABLE),
    also(&[End, Char('G')], A::Bottom, V).only(TABLE),
    bind(
        &[Home, Char('g')],
        A::Replay(RK::Jump),
        "g  Home",
        "jump to a moment (seconds from the start)",
        V,
    )
    .only(REPLAY),
    bind(&[End, Char('G')], A::Bottom, "G  End", "last row", V).only(REPLAY),
    bind(&[], A::Scroll(WHEEL_STEP), "mouse wheel", "scroll", V),
    bind(&[Tab, BackTab], A::SwitchPanel, "Tab", "next panel", V),
    bind(&[Enter], A::Confirm, "Enter", "to the table / details", V),
    bind(
        &[Char('i')],
        A::ToggleDetails,
        "i",
        "details of the connection",
        V,
    ),
    bind(&[Char('e')], A::ToggleLog, "e", "transition log", V),
    bind(&[Char('d')], A::ToggleDiagram, "d", "state diagram", V),
    bind(
        &[Char('W')],
        A::ToggleSegments,
        "W",
        "segments on the wire (root)",
        V,
    )
    .only(TABLE),
    bind(
        &[Char('W')],
        A::ToggleSegments,
        "W",
        "the recording's segments",
        V,
    )
    .only(REPLAY),
    bind(&[Char('z')], A::Zoom, "z", "zoom the pane to the screen", V),
    bind(
        &[Right],
        A::Replay(RK::Step),
        "→ ←",
        "next event (then paused) / one event back",
        V,
    )
    .only(REPLAY),
    also(&[Left], A::Replay(RK::Back), V).only(REPLAY),
    bind(
        &[Char('P')],
        A::ToggleClassroom,
        "P",
        "presentation mode",
        V,
    ),
    bind(
        &[Char('/')],
        A::OpenFilter,
        "/",
        "filter: 8080, state X, addr…",
        V,
    ),
    bind(
        &[Char(' ')],
        A::TogglePause,
        "space",
        "pause view; reading goes on",
        V,
    )
    .only(TABLE_NOT_DEMOS),
    bind(
        &[Char(' ')],
        A::Replay(RK::Pause),
        "space",
        "pause / resume the recording's clock",
        V,
    )
    .only(REPLAY),
    bind(
        &[Char('+'), Char('=')],
        A::Slower,
        "+ -",
        "read less / more often",
        V,
    )
    .only(TABLE),
    also(&[Char('-'), Char('_')], A::Faster, V).only(TABLE),
    bind(
        &[Char('+'), Char('=')],
        A::Replay(RK::Faster),
        "+ -",
        "play twice as fast / half as fast",
        V,
    )
    .only(REPLAY),
    also(&[Char('-'), Char('_')], A::Replay(RK::Slower), V).only(REPLAY),
    bind(&[Char('s')], A::CycleSort, "s", "cycle the sort column", V),
    bind(
        &[Char('H')],
        A::ToggleNames,
        "H",
        "names instead of numbers",
        V,
    ),
    bind(
        &[Char('K')],
        A::Destroy,
        "K",
        "destroy the connection (asks)",
        V,
    )
    .only(TABLE),
    bind(
        &[Char('M')],
        A::ToggleMessages,
        "M",
        "every message so far",
        V,
    ),
    bind(
        &[Char('?')],
        A::ToggleHelp,
        "?",
        "help; on a state: its meaning",
        V,
    ),
    bind(&[Esc], A::Back, "Esc", "close the top pane", V),
    bind(
        &[Char('q')],
        A::Quit,
        "q  Ctrl-C",
        "quit (asks if the lab is busy)",
        V,
    )
    .only(TABLE),
    bind(&[Char('q')], A::Quit, "q  Ctrl-C", "quit", V).only(REPLAY),
    bind(
        &[Char('n'), PageDown, Right, Char(' ')],
        A::DemoNext,
        "n  PgDn  →  space",
        "demo: next step",
        D,
    )
    .only(DEMOS),
    bind(
        &[Char('p'), PageUp, Left],
        A::DemoPrevious,
        "p  PgUp  ←",
        "demo: the previous step's narration",
        D,
    )
    .only(DEMOS),
    bind(
        &[Char('b')],
        A::ToggleBlank,
        "b",
        "demo: blank the screen (b again brings it back)",
        D,
    )
    .only(DEMOS),
    bind(
        &[Char('N')],
        A::ToggleNotes,
        "N",
        "demo: speaker notes pane",
        D,
    )
    .only(DEMOS),
    bind(
        &[Char('r')],
        A::DemoRestart,
        "r",
        "demo: start over on a fresh port",
        D,
    )
    .only(DEMOS),
    bind(
        &[Char('L')],
        A::ToggleLab,
        "L",
        "show / hide the lab panel",
        Lb,
    )
    .only(TABLE),
    bind(
        &[Char('S')],
        A::Lab(L::StartStop),
        "S",
        "start / stop the server: listen() / close()",
        Lb,
    )
    .only(TABLE),
    bind(
        &[Char('c')],
        A::Lab(L::Connect),
        "c  C",
        "connect one / N clients: connect()",
        Lb,
    )
    .only(TABLE),
    also(&[Char('C')], A::Lab(L::ConnectMany), Lb).only(TABLE),
    bind(
        &[Char('T')],
        A::Lab(L::Target),
        "T",
        "set where clients connect (host:port)",
        Lb,
    )
    .only(TABLE),
    bind(
        &[Char('a')],
        A::Lab(L::AcceptOne),
        "a",
        "accept() one waiting connection",
        Lb,
    )
    .only(TABLE),
    bind(
        &[Char('m')],
        A::Lab(L::ToggleAccept),
        "m",
        "accept mode: auto / manual",
        Lb,
    )
    .only(TABLE),
    bind(
        &[Char('t')],
        A::Lab(L::Send),
        "t  f",
        "send() text / until the window is full",
        Lb,
    )
    .only(TABLE),
    also(&[Char('f')], A::Lab(L::Fill), Lb).only(TABLE),
    bind(
        &[Char('w')],
        A::Lab(L::ShutdownWrite),
        "w",
        "shutdown(SHUT_WR) the selected socket",
        Lb,
    )
    .only(TABLE),
    bind(
        &[Char('x')],
        A::Lab(L::Close),
        "x",
        "close() the selected socket",
        Lb,
    )
    .only(TABLE),
    bind(
        &[Char('R')],
        A::Lab(L::Reset),
        "R",
        "reset: SO_LINGER 0 + close() sends RST",
        Lb,
    )
    .only(TABLE),
    bind(
        &[Char('r')],
        A::Lab(L::ToggleRead),
        "r",
        "selected socket: reading on-off",
        Lb,
    )
    .only(Sessions::LIVE.or(Sessions::LAB).or(LINK_LAB)),
    bind(
        &[Char('E')],
        A::Lab(L::ToggleEcho),
        "E",
        "selected socket: echo on-off",
        Lb,
    )
    .only(TABLE),
    bind(
        &[Char('h')],
        A::Lab(L::ToggleHold),
        "h",
        "hold: keep our end open when the peer closes",
        Lb,
    )
    .only(TABLE),
    bind(
        &[Char('O')],
        A::Lab(L::Options),
        "O",
        "options: backlog, reuseaddr, buffers…",
        Lb,
    )
    .only(TABLE),
    bind(
        &[Char('n')],
        A::Link(LinkKey::Next),
        "n",
        "--wire: step mode, then the next segment",
        Lb,
    )
    .only(LINK_LAB),
    bind(
        &[Char('D')],
        A::Link(LinkKey::DropNext),
        "D",
        "--wire: lose the next segment",
        Lb,
    )
    .only(LINKED),
    bind(
        &[Char('F')],
        A::Link(LinkKey::Flow),
        "F",
        "--wire: segments flow (n steps)",
        Lb,
    )
    .only(LINKED),
];

/// Rows one wheel notch moves.
pub const WHEEL_STEP: i32 = 3;

/// What an input means in this overlay `mode` and session.
pub fn action_for(mode: Mode, session: Sessions, event: &Event) -> Option<Action> {
    match event {
        Event::Key(key) if key.kind != KeyEventKind::Release => key_action(mode, session, key),
        Event::Mouse(m) if mode == Mode::Normal => match m.kind {
            MouseEventKind::ScrollDown => Some(Action::Scroll(WHEEL_STEP)),
            MouseEventKind::ScrollUp => Some(Action::Scroll(-WHEEL_STEP)),
            _ => None,
        },
        Event::Resize(w, h) => Some(Action::Resize(*w, *h)),
        _ => None,
    }
}

fn key_action(mode: Mode, session: Sessions, key: &KeyEvent) -> Option<Action> {
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    if ctrl && key.code == KeyCode::Char('c') {
        return Some(Action::QuitNow);
    }
    match mode {
        Mode::Prompt => prompt_action(key, ctrl),
        Mode::Reading => match key.code {
            KeyCode::Esc | KeyCode::Char('?' | 'q' | 'M') => Some(Action::Back),
            _ => None,
        },
        Mode::Confirm => match key.code {
            KeyCode::Char('y' | 'Y') => Some(Action::Answer(true)),
            KeyCode::Char('n' | 'N') | KeyCode::Esc => Some(Action::Answer(false)),
            _ => None,
        },
        Mode::Normal => match binding(session, key.code) {
            Some(b) => Some(b.action),
            None if KEYMAP.iter().any(|b| b.keys.contains(&key.code)) => Some(Action::NotHere),
            None => None,
        },
    }
}

/// The binding of a key in a session.
pub fn binding(session: Sessions, code: KeyCode) -> Option<&'static Binding> {
    KEYMAP
        .iter()
        .find(|b| b.sessions.meets(session) && b.keys.contains(&code))
}

fn prompt_action(key: &KeyEvent, ctrl: bool) -> Option<Action> {
    let k = match key.code {
        KeyCode::Char('u') if ctrl => PromptKey::Clear,
        KeyCode::Char(c) if !ctrl => PromptKey::Char(c),
        KeyCode::Backspace => PromptKey::Backspace,
        KeyCode::Enter => PromptKey::Submit,
        KeyCode::Esc => PromptKey::Cancel,
        _ => return None,
    };
    Some(Action::Prompt(k))
}

/// The help lines of one section in a session: each binding that acts
/// there, with the lines of others it covers (↑ with ↓).
pub fn help_for(section: Section, session: Sessions) -> impl Iterator<Item = &'static Binding> {
    KEYMAP
        .iter()
        .filter(move |b| b.section == section && b.sessions.meets(session) && b.label.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossterm::event::MouseEvent;

    const LIVE: Sessions = Sessions::LIVE;

    fn key(code: KeyCode) -> Event {
        Event::Key(KeyEvent::new(code, KeyModifiers::NONE))
    }

    fn line(session: Sessions, label: &str) -> Option<&'static str> {
        [Section::View, Section::Lab, Section::Demo]
            .into_iter()
            .flat_map(|s| help_for(s, session))
            .find(|b| b.label == Some(label))
            .map(|b| b.help)
    }

    /// In a replay the help describes what the keys do there, and
    /// outside it what they do live: one table, two true texts.
    #[test]
    fn the_help_says_what_a_key_does_in_a_replay() {
        let replay = Sessions::REPLAY;
        assert_eq!(line(LIVE, "+ -"), Some("read less / more often"));
        assert_eq!(
            line(replay, "+ -"),
            Some("play twice as fast / half as fast")
        );
        assert_eq!(
            line(replay, "space"),
            Some("pause / resume the recording's clock")
        );
        assert!(line(replay, "g  Home").is_some_and(|t| t.contains("jump")));
        assert_eq!(line(replay, "K"), None, "nothing to destroy in a recording");
        assert_eq!(line(LIVE, "→ ←"), None, "no clock to step live");
        assert_eq!(line(replay, "s"), line(LIVE, "s"));
    }

    #[test]
    fn normal_keys() {
        let act = |code| action_for(Mode::Normal, LIVE, &key(code));
        assert_eq!(act(Char('j')), Some(A::Down));
        assert_eq!(act(Char(' ')), Some(A::TogglePause));
        assert_eq!(act(Esc), Some(A::Back), "Esc never quits");
        assert_eq!(act(Char('q')), Some(A::Quit));
        assert_eq!(act(Char('Z')), None);
        assert_eq!(act(Char('n')), Some(A::NotHere), "no demo, no link");
    }

    #[test]
    fn a_key_means_one_thing_in_each_session() {
        let act = |session, code| action_for(Mode::Normal, session, &key(code));
        assert_eq!(act(Sessions::DEMO, Char('r')), Some(A::DemoRestart));
        assert_eq!(act(LIVE, Char('r')), Some(A::Lab(L::ToggleRead)));
        assert_eq!(act(Sessions::DEMO_LINK, Char('n')), Some(A::DemoNext));
        assert_eq!(
            act(Sessions::LAB_LINK, Char('n')),
            Some(A::Link(LinkKey::Next))
        );
        assert_eq!(act(Sessions::REPLAY, Char(' ')), Some(A::Replay(RK::Pause)));
        assert_eq!(
            act(Sessions::REPLAY, Char('S')),
            Some(A::NotHere),
            "no lab in a replay"
        );
    }

    #[test]
    fn a_presentation_clickers_keys_step_a_demo_and_page_elsewhere() {
        let act = |session, code| action_for(Mode::Normal, session, &key(code));
        for demo in [Sessions::DEMO, Sessions::DEMO_LINK] {
            for next in [PageDown, Right, Char(' '), Char('n')] {
                assert_eq!(act(demo, next), Some(A::DemoNext), "{next:?}");
            }
            for previous in [PageUp, Left, Char('p')] {
                assert_eq!(act(demo, previous), Some(A::DemoPrevious), "{previous:?}");
            }
            assert_eq!(act(demo, Char('b')), Some(A::ToggleBlank));
        }
        assert_eq!(act(LIVE, PageDown), Some(A::PageDown));
        assert_eq!(act(Sessions::LAB, PageUp), Some(A::PageUp));
        assert_eq!(act(LIVE, Char(' ')), Some(A::TogglePause));
        assert_eq!(act(LIVE, Char('b')), Some(A::NotHere));
    }

    #[test]
    fn ctrl_c_quits_at_once_in_every_mode() {
        let ev = Event::Key(KeyEvent::new(Char('c'), KeyModifiers::CONTROL));
        for mode in [Mode::Normal, Mode::Reading, Mode::Prompt, Mode::Confirm] {
            for session in Sessions::EACH {
                assert_eq!(action_for(mode, session, &ev), Some(A::QuitNow));
            }
        }
    }

    #[test]
    fn overlays_take_their_own_keys() {
        let act = |mode, code| action_for(mode, LIVE, &key(code));
        assert_eq!(
            act(Mode::Prompt, Char('q')),
            Some(A::Prompt(PromptKey::Char('q')))
        );
        assert_eq!(act(Mode::Prompt, Esc), Some(A::Prompt(PromptKey::Cancel)));
        assert_eq!(act(Mode::Reading, Char('q')), Some(A::Back));
        assert_eq!(act(Mode::Reading, Char('j')), None);
        assert_eq!(act(Mode::Confirm, Char('y')), Some(A::Answer(true)));
        assert_eq!(act(Mode::Confirm, Esc), Some(A::Answer(false)));
    }

    /// No key is bound twice in one session, so none is shadowed and
    /// every line of a session's help is what its keys do there.
    #[test]
    fn every_key_is_bound_once_per_session_and_every_line_helps() {
        for session in Sessions::EACH {
            for b in KEYMAP.iter().filter(|b| b.sessions.meets(session)) {
                for k in b.keys {
                    let first = binding(session, *k).map(|o| o.action);
                    assert_eq!(first, Some(b.action), "{k:?} bound twice in {session:?}");
                }
            }
        }
        for b in KEYMAP {
            if let Some(label) = b.label {
                assert!(!b.help.is_empty(), "{label} has no help");
            }
        }
    }

    #[test]
    fn wheel_scrolls() {
        let ev = Event::Mouse(MouseEvent {
            kind: MouseEventKind::ScrollDown,
            column: 0,
            row: 0,
            modifiers: KeyModifiers::NONE,
        });
        assert_eq!(
            action_for(Mode::Normal, LIVE, &ev),
            Some(A::Scroll(WHEEL_STEP))
        );
    }
}
