//! The in-process emulator for Rust tests: bound before `start` returns, stopped on drop
//! (or with [`Running::stop`], which also waits for a clean shutdown).

use crate::{EmulatorData, EmulatorError, serve};

/// A running emulator on a loopback port.
pub struct Running {
    /// `http://127.0.0.1:PORT`
    pub url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Running {
    /// Serves `data` on a free loopback port of the current tokio runtime.
    pub async fn start(data: EmulatorData) -> std::io::Result<Running> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, data, async {
            let _ = stopped.await;
        }));
        Ok(Running {
            url,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// [`Running::start`] with a data file's content (YAML or JSON).
    pub async fn start_yaml(yaml: &str) -> Result<Running, EmulatorError> {
        let data = EmulatorData::from_yaml_str(yaml)?;
        Ok(Running::start(data).await?)
    }

    /// Stops the server and waits until in-flight requests are done.
    pub async fn stop(mut self) -> std::io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => task.await.map_err(std::io::Error::other)?,
            None => Ok(()),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
