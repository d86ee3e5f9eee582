"""The small picture of an image evidence file shown on the session pages.

Made once, at upload, and stored next to the file: a page lists many thumbnails, and
decoding a 10 MB screenshot for each view would cost far more than storing a 20 KB JPEG.
"""

from io import BytesIO

from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.files.base import ContentFile
from django.utils.translation import gettext_lazy as _
from PIL import Image, ImageOps

THUMBNAIL_BOX = (320, 320)


def evidence_thumbnail_build(*, file: File) -> ContentFile:
    """A JPEG at most THUMBNAIL_BOX of the image in `file`, turned as its EXIF says, on a white
    background where it was transparent. ValidationError (`file_damaged`) if the image cannot
    be decoded."""
    file.seek(0)
    try:
        with Image.open(file) as image:
            # JPEG decodes at a reduced scale straight away: far less memory and time.
            image.draft("RGB", THUMBNAIL_BOX)
            picture = ImageOps.exif_transpose(image)
            picture.thumbnail(THUMBNAIL_BOX)
            if picture.mode in ("RGBA", "LA", "P", "PA"):
                picture = picture.convert("RGBA")
                background = Image.new("RGB", picture.size, "white")
                background.paste(picture, mask=picture.getchannel("A"))
                picture = background
            elif picture.mode != "RGB":
                picture = picture.convert("RGB")
            out = BytesIO()
            picture.save(out, "JPEG", quality=80, optimize=True)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise ValidationError(_("The image is damaged: it cannot be decoded."),
                              code="file_damaged") from None
    return ContentFile(out.getvalue(), name="thumbnail.jpg")
