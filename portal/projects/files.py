"""Checks and names for uploaded files: the approval attachments' checks plus Word documents, and names safe
for a zip entry or a download header."""

from __future__ import annotations

import re
import unicodedata

from portal.approvals.services import ALLOWED_TYPES, MAX_ATTACHMENT_BYTES, check_upload
from portal.core.service import ServiceError, clean

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
ACCEPT = ".pdf,.jpg,.jpeg,.png,.xlsx,.docx"
INLINE_TYPES = ("application/pdf", "image/png", "image/jpeg")
MAX_BYTES = MAX_ATTACHMENT_BYTES
XLSX = ALLOWED_TYPES[".xlsx"]


def check_file(filename: str, content: bytes, field: str = "file") -> str:
    """The content type of an acceptable file (PDF, JPG/PNG, Excel .xlsx, Word .docx), or a ServiceError."""
    name = clean(filename)
    if not name or not content:
        raise ServiceError("请选择要上传的文件。", field=field)
    if len(content) > MAX_BYTES:
        size = f"{MAX_BYTES // 1024 // 1024} MB" if MAX_BYTES >= 1024 * 1024 else f"{MAX_BYTES // 1024} KB"
        raise ServiceError(f"文件“{name[:60]}”超过 {size}，请压缩或拆分后上传。", field=field)
    if name.lower().endswith(".docx"):
        if not content.startswith(b"PK\x03\x04"):
            raise ServiceError(f"文件“{name[:60]}”的内容与扩展名不符。", field=field)
        return DOCX
    try:
        return check_upload(name, content)
    except ServiceError as error:
        message = error.message.replace("附件只接受 PDF、JPG、PNG 图片和 Excel（.xlsx）文件。",
                                        "只接受 PDF、JPG、PNG 图片、Excel（.xlsx）和 Word（.docx）文件。")
        raise ServiceError(message.replace("附件", "文件"), field=field) from None


_UNSAFE = re.compile(r'[\\/:*?"<>|\x00-\x1f\x7f]+')


def safe_name(name: str, fallback: str = "文件", limit: int = 80) -> str:
    """A single path component: no separators, control or reserved characters, no leading dots, bounded."""
    text = unicodedata.normalize("NFC", name or "")
    text = "".join(ch for ch in text if unicodedata.category(ch) not in ("Cc", "Cf"))
    text = re.sub(r"\.{2,}", ".", _UNSAFE.sub("_", text))
    text = re.sub(r"_+", "_", text).strip().lstrip("._ ").strip()
    if len(text) > limit:
        stem, dot, ext = text.rpartition(".")
        text = (stem[: limit - len(ext) - 1] + "." + ext) if dot and len(ext) <= 8 else text[:limit]
    return text or fallback
