"""The tables of medical-affairs projects and the template library."""

from .doc_templates import DocTemplate, TemplateCategory, TemplateVersion  # noqa: F401
from .projects import (  # noqa: F401
                       ITEM_BADGE,
                       ITEM_STATES,
                       PROJECT_STATES,
                       ItemFile,
                       Material,
                       Project,
                       ProjectArchive,
                       ProjectItem,
                       ProjectTask,
)
