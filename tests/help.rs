//! The `?` help is true in every session: it lists the keys that act
//! there, and each key it lists does what its line says, not "nothing in
//! this view".

mod common;

use crossterm::event::{Event, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use std::time::{Duration, Instant};
use tcpscope::source::playback::Playback;
use tcpscope::ui::keymap::{Binding, Section, help_for};
use tcpscope::ui::session::{DemoSession, LinkStatus, ReplaySession};
use tcpscope::ui::{Action, App, Mode, Overlay, Pane, Session, action_for, widgets};

fn link() -> Option<LinkStatus> {
    Some(LinkStatus::new(Duration::from_millis(250), false))
}

fn demo(link: Option<LinkStatus>) -> Session {
    let scenario = tcpscope::demo::load("client-close").expect("a built-in demo");
    Session::Demo(DemoSession::new(scenario, link))
}

/// One of each session kind.
fn sessions() -> Vec<Session> {
    vec![
        Session::Live,
        Session::Lab { link: None },
        Session::Lab { link: link() },
        demo(None),
        demo(link()),
        Session::Replay(ReplaySession {
            playback: Playback::new(&[], 1.0),
        }),
    ]
}

fn app(session: Session) -> App {
    let mut settings = common::replay_settings(false);
    settings.lab.server.port = 9000;
    App::new(settings, session, "test", Instant::now())
}

fn screen(app: &mut App) -> String {
    let (width, height) = (160, 70);
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("test terminal");
    let area = ratatui::layout::Rect::new(0, 0, width, height);
    app.set_page(widgets::table_page(area, app));
    terminal.draw(|f| widgets::draw(f, app)).expect("draw");
    terminal.backend().to_string()
}

fn listed(session: &Session) -> Vec<&'static Binding> {
    [Section::View, Section::Lab, Section::Demo]
        .into_iter()
        .flat_map(|s| help_for(s, session.kinds()))
        .collect()
}

fn press(app: &mut App, code: crossterm::event::KeyCode) -> Option<Action> {
    let event = Event::Key(KeyEvent::new(code, KeyModifiers::NONE));
    action_for(app.mode(), app.session.kinds(), &event)
}

#[test]
fn the_help_of_each_session_lists_its_keys() {
    for session in sessions() {
        let name = session.name();
        let lines = listed(&session);
        let mut app = app(session);
        assert_eq!(
            press(&mut app, crossterm::event::KeyCode::Char('?')),
            Some(Action::ToggleHelp)
        );
        app.handle(Action::ToggleHelp);
        assert_eq!(app.overlay, Overlay::Help);
        let shown = screen(&mut app);
        assert!(shown.contains(&format!("keys in the {name}")), "{shown}");
        for b in &lines {
            let (label, help) = (b.label.unwrap_or_default(), b.help);
            assert!(
                shown.contains(&format!("{label}  ")) && shown.contains(help),
                "the {name} help lacks `{label}`: {help}\n{shown}"
            );
        }
    }
}

/// The bindings acting in a session: each listed line and the ones it
/// covers (↓ on ↑'s line).
fn acting(session: &Session) -> Vec<&'static Binding> {
    let kinds = session.kinds();
    tcpscope::ui::keymap::KEYMAP
        .iter()
        .filter(|b| b.sessions.meets(kinds))
        .collect()
}

/// Every key a session's help lists does that binding's action there,
/// and the session takes it (nothing says it does nothing here).
#[test]
fn every_key_a_session_lists_acts_in_it() {
    for session in sessions() {
        let name = session.name();
        for b in acting(&session) {
            for code in b.keys {
                let mut app = app(session.clone());
                if b.section == Section::Lab && b.action != Action::ToggleLab {
                    app.handle(Action::ToggleLab);
                }
                let action = press(&mut app, *code);
                assert_eq!(action, Some(b.action), "{code:?} in the {name}");
                app.handle(b.action);
                let said = app.live_status().map(|s| s.text.clone());
                assert!(
                    !said.as_deref().unwrap_or_default().contains("does nothing"),
                    "{code:?} in the {name}: {said:?}"
                );
            }
        }
    }
}

/// A key without a line of its own acts only where the line that covers
/// it is shown; and in a replay the lab and the link are out of reach.
#[test]
fn no_key_acts_where_its_line_is_not_shown() {
    let keymap = tcpscope::ui::keymap::KEYMAP;
    for session in sessions() {
        let kinds = session.kinds();
        for (i, b) in keymap.iter().enumerate() {
            if b.label.is_some() || !b.sessions.meets(kinds) {
                continue;
            }
            let line = keymap[..i].iter().rev().find(|l| l.label.is_some());
            assert!(
                line.is_some_and(|l| l.sessions.meets(kinds)),
                "{:?} acts in the {} without its line",
                b.keys,
                session.name()
            );
        }
    }
    let mut replay = app(Session::Replay(ReplaySession {
        playback: Playback::new(&[], 1.0),
    }));
    for key in ['S', 'L', 'K', 'D', 'n', 'r'] {
        let code = crossterm::event::KeyCode::Char(key);
        let action = press(&mut replay, code);
        assert_eq!(action, Some(Action::NotHere), "{key} in a replay");
        replay.handle(Action::NotHere);
        let said = replay
            .live_status()
            .map(|s| s.text.clone())
            .unwrap_or_default();
        assert!(said.contains("does nothing in the replay"), "{said}");
    }
    assert!(!replay.panes.is_open(Pane::Lab));
    assert_eq!(replay.mode(), Mode::Normal);
}
