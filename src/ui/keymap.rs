//! Keys and mouse to actions. One table, [`KEYMAP`], drives both the
//! dispatch and the `?` help (and a test checks the README against it), so
//! a key can never do one thing and be documented as another.

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
    /// →: a replay's next event.
    ReplayStep,
    /// ←: a replay one event back.
    ReplayBack,
    ToggleClassroom,
    /// Play the next step of the demo.
    DemoNext,
    /// Start the demo over on a fresh port.
    DemoRestart,
    /// The previous step's narration.
    DemoPrevious,
    ToggleNotes,
    Lab(LabKey),
    /// A key for the lab's link (`lab --wire`).
    Link(crate::lab::link::LinkCall),
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
    /// A demo is playing: `r` restarts it instead of toggling reading.
    Demo,
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
    /// What the help says instead in a replay, where the key does
    /// something else (the recording's clock rather than the reading).
    pub in_replay: Option<&'static str>,
    pub section: Section,
}

impl Binding {
    /// The same binding, described otherwise in a replay.
    const fn replaying(mut self, help: &'static str) -> Binding {
        self.in_replay = Some(help);
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
        in_replay: None,
        section,
    }
}

/// A binding listed on another's help line.
const fn also(keys: &'static [KeyCode], action: Action, section: Section) -> Binding {
    Binding {
        keys,
        action,
        label: None,
        help: "",
        in_replay: None,
        section,
    }
}

use Action as A;
use KeyCode::{BackTab, Char, Down, End, Enter, Esc, Home, Left, PageDown, PageUp, Right, Tab, Up};
use LabKey as L;
use Section::{Demo as D, Lab as Lb, View as V};

/// Every key. The first binding whose keys match wins, so the demo's
/// `r` (restart) comes before the lab's `r` (reading).
pub const KEYMAP: &[Binding] = &[
    bind(
        &[Up, Char('k')],
        A::Up,
        "↑ ↓  j k",
        "move in the focused panel",
        V,
    ),
    also(&[Down, Char('j')], A::Down, V),
    bind(&[PageUp], A::PageUp, "PgUp PgDn", "one page", V),
    also(&[PageDown], A::PageDown, V),
    bind(
        &[Home, Char('g')],
        A::Top,
        "g G  Home End",
        "first / last row",
        V,
    )
    .replaying("g Home: jump to a moment; G End: last row"),
    also(&[End, Char('G')], A::Bottom, V),
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
    ),
    bind(&[Char('z')], A::Zoom, "z", "zoom the pane to the screen", V),
    bind(
        &[Right],
        A::ReplayStep,
        "→ ←",
        "replay: next / previous event",
        V,
    ),
    also(&[Left], A::ReplayBack, V),
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
    .replaying("pause / resume the recording's clock"),
    bind(
        &[Char('+'), Char('=')],
        A::Slower,
        "+ -",
        "read less / more often",
        V,
    )
    .replaying("play twice as fast / half as fast"),
    also(&[Char('-'), Char('_')], A::Faster, V),
    bind(&[Char('s')], A::CycleSort, "s", "cycle the sort column", V),
    bind(
        &[Char('K')],
        A::Destroy,
        "K",
        "destroy the connection (asks)",
        V,
    ),
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
    ),
    bind(
        &[Char('n')],
        A::DemoNext,
        "n",
        "demo: next step; --wire: next segment",
        D,
    ),
    bind(
        &[Char('p')],
        A::DemoPrevious,
        "p",
        "demo: the previous step's narration",
        D,
    ),
    bind(
        &[Char('N')],
        A::ToggleNotes,
        "N",
        "demo: speaker notes pane",
        D,
    ),
    bind(
        &[Char('r')],
        A::DemoRestart,
        "r",
        "demo: start over on a fresh port",
        D,
    ),
    bind(
        &[Char('L')],
        A::ToggleLab,
        "L",
        "show / hide the lab panel",
        Lb,
    ),
    bind(
        &[Char('S')],
        A::Lab(L::StartStop),
        "S",
        "start / stop the server: listen() / close()",
        Lb,
    ),
    bind(
        &[Char('c')],
        A::Lab(L::Connect),
        "c  C",
        "connect one / N clients: connect()",
        Lb,
    ),
    also(&[Char('C')], A::Lab(L::ConnectMany), Lb),
    bind(
        &[Char('T')],
        A::Lab(L::Target),
        "T",
        "set where clients connect (host:port)",
        Lb,
    ),
    bind(
        &[Char('a')],
        A::Lab(L::AcceptOne),
        "a",
        "accept() one waiting connection",
        Lb,
    ),
    bind(
        &[Char('m')],
        A::Lab(L::ToggleAccept),
        "m",
        "accept mode: auto / manual",
        Lb,
    ),
    bind(
        &[Char('t')],
        A::Lab(L::Send),
        "t  f",
        "send() text / until the window is full",
        Lb,
    ),
    also(&[Char('f')], A::Lab(L::Fill), Lb),
    bind(
        &[Char('w')],
        A::Lab(L::ShutdownWrite),
        "w",
        "shutdown(SHUT_WR) the selected socket",
        Lb,
    ),
    bind(
        &[Char('x')],
        A::Lab(L::Close),
        "x",
        "close() the selected socket",
        Lb,
    ),
    bind(
        &[Char('R')],
        A::Lab(L::Reset),
        "R",
        "reset: SO_LINGER 0 + close() sends RST",
        Lb,
    ),
    bind(
        &[Char('r')],
        A::Lab(L::ToggleRead),
        "r  E",
        "selected socket: reading / echo on-off",
        Lb,
    ),
    also(&[Char('E')], A::Lab(L::ToggleEcho), Lb),
    bind(
        &[Char('h')],
        A::Lab(L::ToggleHold),
        "h",
        "hold: keep our end open when the peer closes",
        Lb,
    ),
    bind(
        &[Char('O')],
        A::Lab(L::Options),
        "O",
        "options: backlog, reuseaddr, buffers…",
        Lb,
    ),
    bind(
        &[Char('D')],
        A::Link(crate::lab::link::LinkCall::DropNext),
        "D",
        "--wire: lose the next segment",
        Lb,
    ),
    bind(
        &[Char('F')],
        A::Link(crate::lab::link::LinkCall::Hold(false)),
        "F",
        "--wire: segments flow (n steps)",
        Lb,
    ),
];

/// Rows one wheel notch moves.
pub const WHEEL_STEP: i32 = 3;

pub fn action_for(mode: Mode, event: &Event) -> Option<Action> {
    match event {
        Event::Key(key) if key.kind != KeyEventKind::Release => key_action(mode, key),
        Event::Mouse(m) if matches!(mode, Mode::Normal | Mode::Demo) => match m.kind {
            MouseEventKind::ScrollDown => Some(Action::Scroll(WHEEL_STEP)),
            MouseEventKind::ScrollUp => Some(Action::Scroll(-WHEEL_STEP)),
            _ => None,
        },
        Event::Resize(w, h) => Some(Action::Resize(*w, *h)),
        _ => None,
    }
}

fn key_action(mode: Mode, key: &KeyEvent) -> Option<Action> {
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
        Mode::Normal | Mode::Demo => lookup(mode, key.code),
    }
}

fn lookup(mode: Mode, code: KeyCode) -> Option<Action> {
    KEYMAP
        .iter()
        .filter(|b| mode == Mode::Demo || b.section != Section::Demo || b.action == A::DemoNext)
        .find(|b| b.keys.contains(&code))
        .map(|b| b.action)
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

/// The help lines of one section: (keys, what they do), as the keys act
/// in a replay when `replay` is true.
pub fn help_for(
    section: Section,
    replay: bool,
) -> impl Iterator<Item = (&'static str, &'static str)> {
    KEYMAP
        .iter()
        .filter(move |b| b.section == section)
        .filter_map(move |b| {
            let text = b.in_replay.filter(|_| replay).unwrap_or(b.help);
            b.label.map(|l| (l, text))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// In a replay the help describes what the keys do there, and
    /// outside it what they do live: one table, two true texts.
    #[test]
    fn the_help_says_what_a_key_does_in_a_replay() {
        let line = |replay: bool, label: &str| {
            help_for(Section::View, replay)
                .find(|(l, _)| *l == label)
                .map(|(_, text)| text)
        };
        assert_eq!(line(false, "+ -"), Some("read less / more often"));
        assert_eq!(line(true, "+ -"), Some("play twice as fast / half as fast"));
        assert_eq!(
            line(true, "space"),
            Some("pause / resume the recording's clock")
        );
        let top = line(true, "g G  Home End").expect("a line for g");
        assert!(top.contains("jump to a moment"), "{top}");
        // A key without a replay meaning reads the same in both.
        assert_eq!(line(true, "s"), line(false, "s"));
    }
    use crossterm::event::MouseEvent;

    fn key(code: KeyCode) -> Event {
        Event::Key(KeyEvent::new(code, KeyModifiers::NONE))
    }

    #[test]
    fn normal_keys() {
        assert_eq!(action_for(Mode::Normal, &key(Char('j'))), Some(A::Down));
        assert_eq!(
            action_for(Mode::Normal, &key(Char(' '))),
            Some(A::TogglePause)
        );
        assert_eq!(
            action_for(Mode::Normal, &key(Esc)),
            Some(A::Back),
            "Esc never quits"
        );
        assert_eq!(action_for(Mode::Normal, &key(Char('q'))), Some(A::Quit));
        assert_eq!(action_for(Mode::Normal, &key(Char('Z'))), None);
    }

    #[test]
    fn r_restarts_a_demo_and_toggles_reading_otherwise() {
        assert_eq!(
            action_for(Mode::Demo, &key(Char('r'))),
            Some(A::DemoRestart)
        );
        assert_eq!(
            action_for(Mode::Normal, &key(Char('r'))),
            Some(A::Lab(L::ToggleRead))
        );
        assert_eq!(action_for(Mode::Normal, &key(Char('n'))), Some(A::DemoNext));
    }

    #[test]
    fn ctrl_c_quits_at_once_in_every_mode() {
        let ev = Event::Key(KeyEvent::new(Char('c'), KeyModifiers::CONTROL));
        for mode in [
            Mode::Normal,
            Mode::Reading,
            Mode::Prompt,
            Mode::Confirm,
            Mode::Demo,
        ] {
            assert_eq!(action_for(mode, &ev), Some(A::QuitNow));
        }
    }

    #[test]
    fn overlays_take_their_own_keys() {
        assert_eq!(
            action_for(Mode::Prompt, &key(Char('q'))),
            Some(A::Prompt(PromptKey::Char('q')))
        );
        assert_eq!(
            action_for(Mode::Prompt, &key(Esc)),
            Some(A::Prompt(PromptKey::Cancel))
        );
        assert_eq!(action_for(Mode::Reading, &key(Char('q'))), Some(A::Back));
        assert_eq!(action_for(Mode::Reading, &key(Char('j'))), None);
        assert_eq!(
            action_for(Mode::Confirm, &key(Char('y'))),
            Some(A::Answer(true))
        );
        assert_eq!(action_for(Mode::Confirm, &key(Esc)), Some(A::Answer(false)));
    }

    #[test]
    fn every_key_is_bound_once_per_mode_and_every_line_helps() {
        for b in KEYMAP {
            for k in b.keys {
                let first = KEYMAP
                    .iter()
                    .find(|o| o.keys.contains(k) && o.section == b.section)
                    .map(|o| o.action);
                assert_eq!(first, Some(b.action), "{k:?} is bound twice in one section");
            }
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
        assert_eq!(action_for(Mode::Normal, &ev), Some(A::Scroll(WHEEL_STEP)));
    }
}
