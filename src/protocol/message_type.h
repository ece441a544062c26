// The type bytes of protocol v3 messages, named as in PostgreSQL's
// src/include/libpq/protocol.h (PostgreSQL 17+). Several bytes mean one
// message from the client and another from the server ('C' is Close and
// CommandComplete): the name says which is meant.
#pragma once

namespace usher::protocol {

// Frontend (client to server).
inline constexpr char PqMsg_Bind = 'B';
inline constexpr char PqMsg_Close = 'C';
inline constexpr char PqMsg_Describe = 'D';
inline constexpr char PqMsg_Execute = 'E';
inline constexpr char PqMsg_FunctionCall = 'F';
inline constexpr char PqMsg_Flush = 'H';
inline constexpr char PqMsg_Parse = 'P';
inline constexpr char PqMsg_Query = 'Q';
inline constexpr char PqMsg_Sync = 'S';
inline constexpr char PqMsg_Terminate = 'X';
inline constexpr char PqMsg_CopyFail = 'f';
inline constexpr char PqMsg_GSSResponse = 'p';
inline constexpr char PqMsg_PasswordMessage = 'p';
inline constexpr char PqMsg_SASLInitialResponse = 'p';
inline constexpr char PqMsg_SASLResponse = 'p';

// Backend (server to client).
inline constexpr char PqMsg_ParseComplete = '1';
inline constexpr char PqMsg_BindComplete = '2';
inline constexpr char PqMsg_CloseComplete = '3';
inline constexpr char PqMsg_NotificationResponse = 'A';
inline constexpr char PqMsg_CommandComplete = 'C';
inline constexpr char PqMsg_DataRow = 'D';
inline constexpr char PqMsg_ErrorResponse = 'E';
inline constexpr char PqMsg_CopyInResponse = 'G';
inline constexpr char PqMsg_CopyOutResponse = 'H';
inline constexpr char PqMsg_EmptyQueryResponse = 'I';
inline constexpr char PqMsg_BackendKeyData = 'K';
inline constexpr char PqMsg_NoticeResponse = 'N';
inline constexpr char PqMsg_AuthenticationRequest = 'R';
inline constexpr char PqMsg_ParameterStatus = 'S';
inline constexpr char PqMsg_RowDescription = 'T';
inline constexpr char PqMsg_FunctionCallResponse = 'V';
inline constexpr char PqMsg_CopyBothResponse = 'W';
inline constexpr char PqMsg_ReadyForQuery = 'Z';
inline constexpr char PqMsg_NoData = 'n';
inline constexpr char PqMsg_PortalSuspended = 's';
inline constexpr char PqMsg_ParameterDescription = 't';
inline constexpr char PqMsg_NegotiateProtocolVersion = 'v';

// Both directions.
inline constexpr char PqMsg_CopyDone = 'c';
inline constexpr char PqMsg_CopyData = 'd';

}  // namespace usher::protocol
