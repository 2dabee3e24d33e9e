//! A buffered TCP connection: gdbstub writes packets a byte at a time, and
//! one syscall per byte makes every register read crawl.

use gdbstub::conn::{Connection, ConnectionExt};
use std::io::{Read, Write};
use std::net::TcpStream;

pub struct BufferedTcp {
    stream: TcpStream,
    out: Vec<u8>,
}

impl BufferedTcp {
    pub fn new(stream: TcpStream) -> std::io::Result<BufferedTcp> {
        stream.set_nodelay(true)?;
        Ok(BufferedTcp {
            stream,
            out: Vec::with_capacity(4096),
        })
    }
}

impl Connection for BufferedTcp {
    type Error = std::io::Error;

    fn write(&mut self, byte: u8) -> Result<(), Self::Error> {
        self.out.push(byte);
        Ok(())
    }

    fn write_all(&mut self, buf: &[u8]) -> Result<(), Self::Error> {
        self.out.extend_from_slice(buf);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), Self::Error> {
        Write::write_all(&mut self.stream, &self.out)?;
        self.out.clear();
        Write::flush(&mut self.stream)
    }
}

impl ConnectionExt for BufferedTcp {
    fn read(&mut self) -> Result<u8, Self::Error> {
        Connection::flush(self)?;
        let mut byte = [0u8];
        Read::read_exact(&mut self.stream, &mut byte)?;
        Ok(byte[0])
    }

    fn peek(&mut self) -> Result<Option<u8>, Self::Error> {
        self.stream.set_nonblocking(true)?;
        let mut byte = [0u8];
        let result = match self.stream.peek(&mut byte) {
            Ok(0) => Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof)),
            Ok(_) => Ok(Some(byte[0])),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(e),
        };
        self.stream.set_nonblocking(false)?;
        result
    }
}

/// A client whose bytes are all known in advance, and the server's
/// answers kept in memory. The client going away is the end of its bytes.
pub struct Scripted<'a> {
    client: &'a [u8],
    answers: Vec<u8>,
}

impl<'a> Scripted<'a> {
    pub fn new(client: &'a [u8]) -> Scripted<'a> {
        Scripted {
            client,
            answers: Vec::new(),
        }
    }

    pub fn into_answers(self) -> Vec<u8> {
        self.answers
    }
}

impl Connection for &mut Scripted<'_> {
    type Error = std::io::Error;

    fn write(&mut self, byte: u8) -> Result<(), Self::Error> {
        self.answers.push(byte);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

impl ConnectionExt for &mut Scripted<'_> {
    fn read(&mut self) -> Result<u8, Self::Error> {
        let (&first, rest) = self
            .client
            .split_first()
            .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::UnexpectedEof))?;
        self.client = rest;
        Ok(first)
    }

    fn peek(&mut self) -> Result<Option<u8>, Self::Error> {
        Ok(self.client.first().copied())
    }
}
